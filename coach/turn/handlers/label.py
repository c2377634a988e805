"""A request for a label or verdict about someone ("is he a narcissist?"): an honest no, then a
turn to behaviour and feelings."""

from __future__ import annotations

from ...answers import label_reply
from ..context import TurnContext
from .out_of_scope import ABOUT_CARD

NAME = "label"
LABEL_CARD = "be-specific-about-behaviours"


def applies(ctx: TurnContext) -> bool:
    return ctx.reading.intent == "label"


def handle(ctx: TurnContext) -> None:
    state = ctx.state
    ctx.say(label_reply(ctx.text, state.user_turns, state.abuse_raised))
    ctx.scripted()
    # what happens matters more than a name: that card if it fits this person, else the card on
    # what the coach can't do (diagnose)
    fitting = [c for c in ctx.cited(LABEL_CARD) if c.fits_role(state.role)]
    ctx.out.cards.extend(fitting or ctx.cited(ABOUT_CARD))
    state.user_turns += 1
