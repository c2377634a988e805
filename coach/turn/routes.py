"""The routes, in the order they are tried: the first handler whose `applies(ctx)` is true
answers the message. Safety comes first and never depends on a model; questions are answered
before the coaching map is followed."""

from __future__ import annotations

from types import ModuleType

from .context import TurnContext
from .handlers import (
    about_the_coach,
    answer_question,
    check_in,
    check_in_yes,
    coaching,
    injection,
    label,
    out_of_scope,
    plan,
    safety_follow_up,
    urgent_safety,
)

ROUTES: tuple[ModuleType, ...] = (
    urgent_safety,      # risk now: the crisis protocol
    check_in_yes,       # "yes" to the coach's direct safety question: the protocol
    check_in,           # unsure: ask directly, nothing else
    safety_follow_up,   # a later turn after risk came up
    out_of_scope,       # not what the coach is for: who can help
    injection,          # "ignore your instructions"
    about_the_coach,    # "are you a bot?", "who sees this?"
    label,              # "is he a narcissist?"
    answer_question,    # any other question: answered first
    plan,               # the plan: offer, change, agree
    coaching,           # everything else: the session's map
)


def route(ctx: TurnContext) -> ModuleType:
    """The handler that answers this message."""
    for handler in ROUTES:
        if handler.applies(ctx):
            return handler
    return coaching  # (coaching applies to everything; kept for type checkers)
