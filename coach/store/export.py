"""Turn a stored session into Markdown, JSON or plain text that a person can keep or share."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from ..errors import InputError

FORMATS = ("md", "json")
JSON_FORMAT_NAME = "trust-coach-session"
JSON_VERSION = 1
NOT_THERAPY = (
    "A private record kept by Trust Coach, a coaching tool. It is not therapy and it does "
    "not diagnose anyone."
)
# Control characters (other than newline and tab) make a transcript unreadable; JSON keeps them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPEAKER = {"user": "You", "assistant": "Coach"}
_STATUS_NOTE = {
    "pending": "(no reply was saved for this message)",
    "failed": "(the coach could not reply to this message)",
}


def render(snapshot, fmt: str = "md") -> str:
    """A session snapshot as 'md' or 'json' text."""
    if fmt == "md":
        return to_markdown(snapshot)
    if fmt == "json":
        return to_json(snapshot)
    raise InputError(f"Unknown export format {str(fmt)[:20]!r}; choose md or json.")


def to_json(snapshot) -> str:
    """Everything stored for the session, as indented JSON (exact text, ISO-8601 UTC times)."""
    s = snapshot.session
    doc = {
        "format": JSON_FORMAT_NAME,
        "version": JSON_VERSION,
        "exported_at": _iso(datetime.now(timezone.utc)),
        "session": {
            "id": s.id, "title": s.title, "created_at": _iso(s.created_at),
            "updated_at": _iso(s.updated_at), "role": s.role, "region": s.region,
            "stage": s.stage, "history_opt_in": s.history_opt_in, "backend": s.backend,
        },
        "turns": [
            {"idx": t.idx, "role": t.role, "text": t.text, "stage": t.stage,
             "status": t.status, "created_at": _iso(t.created_at), "sources": t.sources,
             "safety": t.safety, "backend": t.backend,
             **({"feedback": snapshot.feedback[t.idx]} if t.idx in snapshot.feedback else {}),
             **({"feedback_comment": snapshot.feedback_comments[t.idx]}
                if t.idx in getattr(snapshot, "feedback_comments", {}) else {})}
            for t in snapshot.turns
        ],
        "plan": None if snapshot.plan is None else {
            "items": snapshot.plan.items, "agreed": snapshot.plan.agreed,
            "updated_at": _iso(snapshot.plan.updated_at),
        },
        "checkins": [{"rating": c.rating, "created_at": _iso(c.created_at)}
                     for c in snapshot.checkins],
        "safety_events": [
            {"turn_idx": e.turn_idx, "kind": e.kind, "category": e.category, "level": e.level,
             "detail": e.detail, "created_at": _iso(e.created_at)}
            for e in snapshot.safety_events
        ],
        "summaries": list(snapshot.summaries),
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def to_markdown(snapshot) -> str:
    """A readable Markdown document: header, conversation with sources, plan, check-ins."""
    s = snapshot.session
    out = [
        f"# {_one_line(s.title) or 'Trust Coach session'}",
        "",
        f"- Started: {_when(s.created_at)}",
        f"- Last active: {_when(s.updated_at)}",
        f"- Session id: `{s.id}`",
        "",
        f"_{NOT_THERAPY}_",
        "",
        "## Conversation",
        "",
    ]
    if not snapshot.turns:
        out += ["_No messages yet._", ""]
    for t in snapshot.turns:
        out += [f"**{_SPEAKER.get(t.role, t.role)}** · {_when(t.created_at)}", ""]
        out += [_quote(t.text), ""]
        if t.idx in getattr(snapshot, "feedback", {}):
            said = getattr(snapshot, "feedback_comments", {}).get(t.idx)
            out += [f"_Your feedback: {snapshot.feedback[t.idx]}_"
                    + (f" · {_clean(said)}" if said else ""), ""]
        if t.role == "user" and t.status in _STATUS_NOTE:
            out += [f"_{_STATUS_NOTE[t.status]}_", ""]
        sources = _source_lines(t.sources)
        if sources:
            out += ["Sources:"] + [f"- {line}" for line in sources] + [""]
    if snapshot.plan is not None:
        agreed = "agreed" if snapshot.plan.agreed else "not yet agreed"
        out += [f"## Plan ({agreed})", ""]
        out += [f"- [ ] {_plan_item(i)}" for i in snapshot.plan.items] or ["_Empty._"]
        out += [""]
    if snapshot.checkins:
        out += ["## Check-ins", ""]
        out += [f"- {_when(c.created_at)}: {c.rating}/10" for c in snapshot.checkins] + [""]
    if snapshot.summaries:
        out += ["## Summaries", ""] + [_quote(x) + "\n" for x in snapshot.summaries]
    if snapshot.safety_events:
        out += ["## Safety checks that ran", ""]
        out += [f"- {_when(e.created_at)}: {e.kind}, {e.category} ({e.level})"
                for e in snapshot.safety_events] + [""]
    return "\n".join(out).rstrip() + "\n"


def to_text(snapshot) -> str:
    """The transcript as plain text for a terminal (`coach sessions show`)."""
    s = snapshot.session
    out = [
        f"{_one_line(s.title) or 'Untitled session'}  [{s.id}]",
        f"Started {_when(s.created_at)}, last active {_when(s.updated_at)}, "
        f"{len(snapshot.turns)} turns",
        "",
    ]
    for t in snapshot.turns:
        out.append(f"{_SPEAKER.get(t.role, t.role)} ({_when(t.created_at)}):")
        out += ["  " + line for line in _clean(t.text).splitlines() or [""]]
        if t.role == "user" and t.status in _STATUS_NOTE:
            out.append("  " + _STATUS_NOTE[t.status])
        sources = _source_lines(t.sources)
        if sources:
            out.append("  Sources: " + "; ".join(sources))
        out.append("")
    if snapshot.plan is not None and snapshot.plan.items:
        agreed = "agreed" if snapshot.plan.agreed else "not yet agreed"
        out.append(f"Plan ({agreed}):")
        out += [f"  - {_plan_item(i)}" for i in snapshot.plan.items]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat()


def _when(value: datetime) -> str:
    # Local time for people reading; the JSON export keeps exact UTC.
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def _clean(value: Any) -> str:
    return _CONTROL.sub("\ufffd", str(value or ""))


def _one_line(value: Any) -> str:
    return " ".join(str(value or "").split())


def _quote(value: str) -> str:
    lines = _clean(value).splitlines() or [""]
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def _first(item: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if item.get(key):
            return _clean(item[key])
    return None


def _source_lines(sources: Any) -> list[str]:
    if not sources:
        return []
    if not isinstance(sources, list):
        sources = [sources]
    lines = []
    for src in sources:
        if isinstance(src, dict):
            name = _first(src, ("title", "name", "card_id", "id"))
            origin = _first(src, ("source", "url", "origin", "path"))
            parts = [p for p in (name, origin) if p]
            lines.append(" - ".join(parts) if parts else _clean(json.dumps(src)))
        else:
            lines.append(_clean(src))
    return lines


def _plan_item(item: Any) -> str:
    if isinstance(item, dict):
        return _first(item, ("text", "step", "title", "action")) or _clean(json.dumps(item))
    return _clean(item)
