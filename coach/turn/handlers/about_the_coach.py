"""Questions about the coach itself (a bot? a person? a therapist? who sees this?): direct,
true answers."""

from __future__ import annotations

from ...answers import about_reply
from ..context import TurnContext
from .out_of_scope import ABOUT_CARD

NAME = "about_the_coach"


def applies(ctx: TurnContext) -> bool:
    return ctx.reading.intent == "coach"


def handle(ctx: TurnContext) -> None:
    ctx.say(about_reply(ctx.text, ctx.coach.store_description(), ctx.state.user_turns))
    ctx.scripted()
    ctx.out.cards.extend(ctx.cited(ABOUT_CARD))
    ctx.state.user_turns += 1
