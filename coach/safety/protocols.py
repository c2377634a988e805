"""Safety protocol replies: what the coach says when screening finds risk, without any LLM.

The wording is reviewed data in prompts/safety/*.yaml; this module only picks and fills it.
Decisions (see each YAML file for its rules):
- urgent, any category: stop coaching; first line = emergency number + the region's line.
- self_harm concern: one direct question (thoughts, then plan, then intent) + lines; stop.
- abuse: believe, safety first, domestic abuse service, quick exit; stop coaching, because
  trust-building exercises assume two people who are both safe.
- surveillance concern: decline and redirect; coaching may continue (stop_coaching False).
- harm_to_others / child_safety / medical_emergency concern: emergency number + service; stop.
- category "none" or level "none": no protocol reply (None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from coach.config import data_dir
from coach.errors import KnowledgeError
from coach.safety.resources import (
    FALLBACK_REGION,
    Resource,
    emergency_number,
    normalise_region,
    region_name,
    resources_for,
)
from coach.safety.types import Screening

CONCERN_PROTOCOLS = ("self_harm", "abuse", "surveillance", "harm_to_others",
                     "child_safety", "medical_emergency")


@dataclass(frozen=True)
class SafetyReply:
    """A complete reply for a risky turn, plus what the UI and engine should do with it."""

    text: str
    stop_coaching: bool
    resources: list[Resource] = field(default_factory=list)
    quick_exit: bool = False
    category: str = "none"
    level: str = "none"


def _safety_dir() -> Path:
    return data_dir("prompts") / "safety"


@lru_cache(maxsize=32)
def _load_cached(path: str, mtime: float) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise KnowledgeError(f"{path}: must be a mapping of fields")
    return data


def load_wording(name: str) -> dict[str, Any]:
    """One wording file from prompts/safety (e.g. 'abuse'), validated as a mapping."""
    path = _safety_dir() / f"{name}.yaml"
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: file not found (safety wording is required)") from None
    return _load_cached(str(path), mtime)


def _field(data: dict, name: str, key: str) -> Any:
    if key not in data or data[key] in (None, "", []):
        raise KnowledgeError(f"{_safety_dir() / (name + '.yaml')}: {key}: missing")
    return data[key]


def _pick(options: Any, seed: int) -> str:
    """One wording variant, chosen by seed so that the same turn always reads the same."""
    if isinstance(options, str):
        return options.strip()
    return str(options[seed % len(options)]).strip()


def _seed(context: dict | None) -> int:
    ctx = context or {}
    value = ctx.get("seed", ctx.get("turn", 0))
    try:
        return abs(int(value))
    except (TypeError, ValueError):
        return 0


def _fill(template: str, values: dict[str, str]) -> str:
    return template.format_map(values)


def _values(region: str, hotline: Resource | None) -> dict[str, str]:
    return {
        "emergency": emergency_number(region),
        "region_name": region_name(region),
        "hotline": hotline.short_name if hotline else "a local crisis line",
        "hotline_reach": hotline.quickest() if hotline else "https://findahelpline.com",
    }


def _services(region: str, categories: list[str], limit: int) -> list[Resource]:
    out: list[Resource] = []
    for cat in categories:
        for res in resources_for(region, cat):
            if res not in out:
                out.append(res)
    return out[:limit]


def _resource_block(region: str, services: list[Resource]) -> str:
    if not services:
        return ""
    common = load_wording("common")
    where = "" if region == FALLBACK_REGION else _fill(
        common["resources_where"], {"region_name": region_name(region)})
    heading = _fill(_field(common, "common", "resources_heading"), {"where": where})
    lines = "\n".join(f"- {s.markdown()}" for s in services)
    return f"{heading}\n{lines}"


def _join(*parts: str) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def _urgent(screening: Screening, region: str, seed: int, abuse_raised: bool) -> SafetyReply:
    data = load_wording("urgent")
    cats = _field(data, "urgent", "categories")
    cfg = cats.get(screening.category) or _field(cats, "urgent", "none")
    services = _services(region, list(cfg.get("services") or []), int(data.get("max_resources", 3)))
    values = _values(region, services[0] if services else None)
    common = load_wording("common")
    quick_exit = bool(cfg.get("quick_exit")) or abuse_raised
    text = _join(
        _fill(_field(cfg, "urgent", "first_line"), values),
        _fill(_pick(_field(cfg, "urgent", "body"), seed), values),
        _resource_block(region, services),
        common["quick_exit"] if quick_exit else "",
        _field(common, "common", "stay_available"),
    )
    return SafetyReply(text, bool(data.get("stop_coaching", True)), services, quick_exit,
                       screening.category, screening.level)


def _self_harm(region: str, seed: int, step: int) -> tuple[str, list[Resource], dict]:
    data = load_wording("self_harm")
    services = _services(region, data["services"], int(data.get("max_resources", 3)))
    questions = _field(data, "self_harm", "questions")
    question = questions[min(max(step, 0), len(questions) - 1)]
    lines = "\n".join(f"- {s.markdown()}" for s in services)
    text = _join(
        _pick(_field(data, "self_harm", "opening"), seed) + " " + question.strip(),
        _fill(_field(data, "self_harm", "after_question").strip(),
              _values(region, services[0] if services else None)) + "\n" + lines,
        load_wording("common")["not_therapy"],
    )
    return text, services, data


def _abuse(region: str, seed: int) -> tuple[str, list[Resource], dict]:
    data = load_wording("abuse")
    services = _services(region, data["services"], int(data.get("max_resources", 3)))
    values = _values(region, services[0] if services else None)
    common = load_wording("common")
    text = _join(
        _pick(_field(data, "abuse", "opening"), seed),
        _fill(_pick(_field(data, "abuse", "safety"), seed), values),
        _field(data, "abuse", "control"),
        _field(data, "abuse", "individual"),
        _resource_block(region, services),
        common["quick_exit"],
    )
    return text, services, data


def _surveillance(region: str, seed: int) -> tuple[str, list[Resource], dict]:
    data = load_wording("surveillance")
    services = _services(region, data.get("services") or [], int(data.get("max_resources", 1)))
    ideas = "\n".join(f"- {line}" for line in _field(data, "surveillance", "redirect"))
    text = _join(
        _pick(_field(data, "surveillance", "decline"), seed) + " "
        + _field(data, "surveillance", "why").strip(),
        _field(data, "surveillance", "redirect_heading") + "\n" + ideas,
        _resource_block(region, services),
        _field(data, "surveillance", "question"),
    )
    return text, services, data


def _simple(name: str, region: str, seed: int) -> tuple[str, list[Resource], dict]:
    """Protocols of the shape opening + steps + services (harm, child safety, medical)."""
    data = load_wording(name)
    services = _services(region, data["services"], int(data.get("max_resources", 3)))
    values = _values(region, services[0] if services else None)
    common = load_wording("common")
    text = _join(
        _pick(_field(data, name, "opening"), seed),
        _fill(_field(data, name, "steps"), values),
        _resource_block(region, services),
        common["stay_available"] if name != "medical_emergency" else "",
    )
    return text, services, data


def check_in_question(category: str, region: str, seed: int = 0) -> str:
    """The kind, direct question the coach asks when screening is unsure (check_in level)."""
    data = load_wording("check_in")
    cfg = data.get(category) or _field(data, "check_in", "self_harm")
    values = {"emergency": emergency_number(normalise_region(region))}
    return _join(_pick(_field(cfg, "check_in", "opening"), seed),
                 _fill(" ".join(_field(cfg, "check_in", "question").split()), values))


def _starts_with(low: str, words: list[str]) -> bool:
    return any(low == w.rstrip(",.") or low.startswith(w if w.endswith((",", ".")) else w + " ")
               or low.startswith(w + ",") or low.startswith(w + ".") or low.startswith(w + "!")
               for w in words)


def check_in_answer(text: str) -> str:
    """How the person answered the check-in: 'yes' (unsure counts as yes), 'no', or 'other'
    (they went on to something else; the engine answers that and keeps the door open)."""
    low = " ".join(text.lower().replace("\u2019", "'").split())
    data = load_wording("check_in")
    if _starts_with(low, data["no_words"]):
        return "no"
    if _starts_with(low, data["yes_words"]) or any(w in low for w in data["yes_anywhere"]):
        return "yes"
    return "other"


def check_in_all_clear(seed: int = 0) -> str:
    """The short thank-you after a plain 'no' to a check-in."""
    return _pick(load_wording("check_in")["all_clear"], seed)


def safety_reply(screening: Screening, region: str,
                 context: dict | None = None) -> SafetyReply | None:
    """The protocol reply for a screened message, or None when there is nothing to do.

    context (all optional): turn or seed (picks the wording variant), self_harm_step (0-2: which
    safety question to ask next), abuse_raised (abuse came up earlier: offer the quick exit).
    """
    if screening.level in ("none", "check_in"):
        return None  # check_in: the engine asks (check_in_question) instead
    region = normalise_region(region)
    ctx = context or {}
    seed = _seed(ctx)
    abuse_raised = bool(ctx.get("abuse_raised")) or screening.category == "abuse"
    if screening.level == "urgent":
        return _urgent(screening, region, seed, abuse_raised)
    if screening.category not in CONCERN_PROTOCOLS:
        return None
    if screening.category == "self_harm":
        text, services, data = _self_harm(region, seed, int(ctx.get("self_harm_step", 0) or 0))
    elif screening.category == "abuse":
        text, services, data = _abuse(region, seed)
    elif screening.category == "surveillance":
        text, services, data = _surveillance(region, seed)
    else:
        text, services, data = _simple(screening.category, region, seed)
    quick_exit = bool(data.get("quick_exit")) or abuse_raised
    if quick_exit and screening.category != "abuse":
        text = _join(text, load_wording("common")["quick_exit"])
    return SafetyReply(text, bool(data.get("stop_coaching", True)), services, quick_exit,
                       screening.category, screening.level)
