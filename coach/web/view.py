"""Small pure helpers that turn engine and store data into what the web page shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from ..flow import STAGES

BACKEND_LABELS = {
    "local": "local model (on this computer)",
    "openai": "remote model",
    "scripted": "built-in guidance (no language model)",
}


def stage_label(stage: str, names: dict[str, str] | None = None) -> str:
    """A stage's name as people read it ('boundaries and agreements')."""
    names = names or {}
    if stage == "welcome":
        return "getting started"
    return names.get(stage, stage.replace("_", " "))


def topics_markdown(visited: Sequence[str], stage: str | None,
                    names: dict[str, str] | None = None, stages: Sequence[str] = STAGES) -> str:
    """Markdown: the topics talked about so far, the one now, and what else is open (the
    stages are a map the person may follow anywhere, not steps to get through)."""
    topics = [s for s in stages if s not in ("welcome", "plan")]
    done = [s for s in topics if s in visited and s != stage]
    lines = []
    if stage in topics:
        lines.append(f"**Now:** {stage_label(stage, names)}")
    if done:
        lines.append("**Talked about:** " + ", ".join(stage_label(s, names) for s in done))
    if not lines:
        lines.append("**Nothing yet:** start wherever you like.")
    rest = [stage_label(s, names) for s in topics if s not in visited and s != stage]
    if rest:
        lines += ["", "_You can ask about any of these at any time:_ " + ", ".join(rest) + "."]
    if "plan" in visited or stage == "plan":
        lines += ["", "**Your plan** is open below."]
    return "\n\n".join(line for line in lines if line)


def sources_message(sources: Iterable[dict[str, Any]], card: Callable[[str], Any]
                    ) -> dict[str, Any] | None:
    """The guidance a reply drew on, as a folded note under it (a chat message whose metadata
    title makes Gradio show it collapsed)."""
    lines = []
    for src in sources:
        found = card(str(src.get("id", ""))) if src.get("id") else None
        title = str(getattr(found, "title", None) or src.get("title") or "Guidance")
        lines.append(f"- **{title}**" + (f": {_gist(found)}" if found is not None else ""))
    if not lines:
        return None
    n = len(lines)
    return {"role": "assistant", "content": "\n".join(lines),
            "metadata": {"title": f"Guidance behind this reply ({n} card{'s' if n > 1 else ''})",
                         "status": "done"}}


def _reach(r: dict[str, Any]) -> str:
    ways = []
    phone, text, url = r.get("phone"), r.get("text"), r.get("url")
    if phone and text and phone == text:
        ways.append(f"call or text {phone}")
    else:
        if phone:
            ways.append(f"call {phone}")
        if text:
            ways.append(f"text {text}")
    reach = " or ".join(ways)
    if url:
        reach = f"{reach} ({url})" if reach else str(url)
    return reach


def resource_line(r: dict[str, Any]) -> str:
    """One Markdown line for a support service given as a dict (name, phone, text, url, hours)."""
    hours = f" · {r['hours']}" if r.get("hours") else ""
    return f"- **{r.get('name', 'Support service')}**: {_reach(r)}{hours}"


def help_panel(region_title: str, emergency: str, services: Iterable[dict[str, Any]],
               urgent: Iterable[dict[str, Any]] = (), heading: str = "Please reach out now") -> str:
    """Markdown for the always-visible 'Get help now' panel; `urgent` services go first."""
    urgent = list(urgent)
    lines = []
    if urgent:
        lines += [f"### {heading}", ""]
        lines += [resource_line(r) for r in urgent]
        lines.append("")
    lines += [f"**If someone is in danger right now, call {emergency}.**", ""]
    names = {r.get("name") for r in urgent}
    rest = [r for r in services if r.get("name") not in names]
    if rest:
        lines.append(f"Support in {region_title}:")
        lines += [resource_line(r) for r in rest]
    lines += ["", "_Press Esc twice to leave this page quickly._"]
    return "\n".join(lines)


def plan_markdown(items: Sequence[str], agreed: bool = False) -> str:
    """Markdown for the action plan as it grows."""
    if not items:
        return "_Small steps you choose will collect here as you talk._"
    head = "**Your plan (agreed)**" if agreed else "**Your plan so far**"
    return "\n".join([head, ""] + [f"{i}. {item}" for i, item in enumerate(items, 1)])


def backend_label(name: str | None) -> str:
    """What is writing the replies, in plain words."""
    return BACKEND_LABELS.get((name or "").lower(), name or "unknown")


def status_line(configured: str, used: str | None = None, notice: str = "") -> str:
    """Markdown status under the chat: which backend answers, and any fallback."""
    line = f"Replies by: **{backend_label(configured)}**"
    if used and used != configured:
        line += f" · this reply used **{backend_label(used)}**"
    if notice:
        line += f"\n\n⚠️ {notice.strip('() ')}"
    return line


def _gist(card: Any, limit: int = 220) -> str:
    """A card in a few words for the note under a reply: the start of its body (the reply
    itself already carries the tip), else the tip."""
    body = " ".join(str(getattr(card, "body", "") or "").split("\n\n")[0].split())
    text = body or " ".join(str(getattr(card, "tip", "") or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def history_messages(turns: Iterable[Any], card: Callable[[str], Any] | None = None
                     ) -> list[dict[str, Any]]:
    """Chat messages (Gradio's messages format) from stored turns, each reply followed by the
    guidance it drew on (when `card` can look the cards up)."""
    out: list[dict[str, Any]] = []
    for t in turns:
        role = "user" if getattr(t, "role", "") == "user" else "assistant"
        out.append({"role": role, "content": str(getattr(t, "text", ""))})
        if role == "assistant" and card is not None:
            under = sources_message(list(getattr(t, "sources", None) or []), card)
            if under:
                out.append(under)
    return out


def session_label(info: Any) -> str:
    """A line for the list of saved sessions: title, date, number of messages."""
    when = getattr(info, "updated_at", None)
    day = when.strftime("%d %b %Y %H:%M") if isinstance(when, datetime) else ""
    title = (getattr(info, "title", "") or "Untitled session").strip()
    if len(title) > 60:
        title = title[:59] + "…"
    return f"{title} · {day} · {getattr(info, 'turns', 0)} messages"


def checkin_rows(checkins: Iterable[Any]) -> list[dict[str, Any]]:
    """Rows for the check-in chart: one point per rating, oldest first, numbered from 1."""
    rows = []
    for i, c in enumerate(checkins, 1):
        when = getattr(c, "created_at", None)
        rows.append({"check-in": i, "rating": int(getattr(c, "rating", 0)),
                     "date": when.strftime("%d %b") if isinstance(when, datetime) else ""})
    return rows


def checkin_summary(rows: Sequence[dict[str, Any]]) -> str:
    """One line about the check-ins, kind and factual."""
    if not rows:
        return "_No check-ins yet. They are optional._"
    last = rows[-1]["rating"]
    if len(rows) == 1:
        return f"First check-in: **{last}/10**."
    first = rows[0]["rating"]
    return f"{len(rows)} check-ins · first **{first}/10** · latest **{last}/10**."
