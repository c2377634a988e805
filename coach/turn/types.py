"""The pieces of one turn: the result the callers see, the draft the engine builds, and the
small text helpers both use."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..knowledge import Card

MAX_MESSAGE_CHARS = 10_000


@dataclass
class TurnResult:
    """Everything the CLI, web app and evals need about one answered turn."""

    session: str
    turn: int
    user: str
    reply: str
    stage: str
    sources: list[dict[str, str]]
    safety: dict[str, str]
    referral: bool
    backend: str
    quick_exit: bool = False
    resources: list[dict[str, Any]] = field(default_factory=list)
    notice: str = ""
    revised: bool = False
    plan: list[str] = field(default_factory=list)
    plan_agreed: bool = False
    route: str = ""  # the handler that answered (coach.turn.routes)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session, "turn": self.turn, "user": self.user, "reply": self.reply,
            "stage": self.stage, "sources": self.sources, "safety": self.safety,
            "referral": self.referral, "backend": self.backend, "quick_exit": self.quick_exit,
            "resources": self.resources, "notice": self.notice, "plan": self.plan,
            "plan_agreed": self.plan_agreed, "route": self.route,
        }


@dataclass(frozen=True)
class Delta:
    """A piece of the reply that is safe to show now."""

    text: str


def source_of(card: Card) -> dict[str, str]:
    return {"id": card.id, "title": card.title, "stage": card.stage}


def resource_dict(r: Any) -> dict[str, Any]:
    if hasattr(r, "to_dict"):
        return r.to_dict()
    return {k: getattr(r, k) for k in ("name", "phone", "text", "url", "hours") if hasattr(r, k)}



@dataclass
class Draft:
    """The reply the engine assembles for one turn, before the rails and the store see it."""

    stage: str
    region: str = "international"
    parts: list[str] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    backend: str = "scripted"
    referral: bool = False
    quick_exit: bool = False
    resources: list[dict[str, Any]] = field(default_factory=list)
    notice: str = ""
    shown: str = ""
    revised: bool = False
    safety_stop: bool = False
    plan_items: list[str] | None = None
    trusted: list[str] = field(default_factory=list)  # reviewed wording shown as it is
    events: list[tuple[str, list[str]]] = field(default_factory=list)  # to record with the turn
    screenings: list[Any] = field(default_factory=list)  # risk decisions a handler made
    plan_agreed: bool = False
    llm_seconds: float = 0.0
    guidance_missing: bool = False  # the index failed during this turn
    meter: Any = field(default_factory=lambda: _meter())  # LangChain callback: model timings



def _meter() -> Any:
    from ..llm.callbacks import ModelTimings

    return ModelTimings()


def add_notice(notice: str, extra: str) -> str:
    return extra if not notice else notice if extra in notice else f"{notice}\n{extra}"


def join_parts(parts: list[str]) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def pick(options: list[str], seed: int) -> str:
    return " ".join(options[seed % len(options)].split())


def has_question(text: str) -> bool:
    return "?" in text


def strip_questions(text: str) -> str:
    """Drop question sentences (a turn asks at most one thing), keeping lines and lists."""
    lines = []
    for line in text.strip().splitlines():
        sentences = re.split(r"(?<=[.!?])[ \t]+", line)
        kept = " ".join(x for x in sentences if not x.rstrip().endswith("?"))
        if kept.strip() or not line.strip():
            lines.append(kept.rstrip())
    return "\n".join(lines).strip()


def title_from(text: str) -> str:
    words = text.split()
    return " ".join(words[:8]) + ("…" if len(words) > 8 else "")


def validate_message(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError("The message is empty: write a few words, or say 'help' to see options.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InputError(
            f"That message is very long ({len(text):,} characters; the limit is "
            f"{MAX_MESSAGE_CHARS:,}). Could you send it in smaller parts?")
    return text.replace("\x00", "").strip()
