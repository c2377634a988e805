"""Unsure whether this is a risk: ask directly and kindly, and nothing else."""

from __future__ import annotations

from ...safety.protocols import check_in_question
from ...safety.types import Screening
from ..context import TurnContext

NAME = "check_in"


def applies(ctx: TurnContext) -> bool:
    s = ctx.screening
    return not ctx.pending_check_in and s.needs_check_in and s.category not in ctx.state.checked_in


def handle(ctx: TurnContext) -> None:
    s = ctx.screening
    ctx.scripted()
    ctx.say(check_in_question(s.category, ctx.region, ctx.seed))
    ctx.state.check_in = s.category
    ctx.out.screenings.append(Screening(s.category, "check_in", s.reasons))
    # the safety card for this kind of risk is what the question rests on
    ctx.out.cards.extend(ctx.safety_cards(f"{s.category.replace('_', ' ')} {ctx.text}"))
