"""Something the coach is not for (legal, medical, another person's diagnosis...): a kind
redirect to who can help, resting on the card about the coach's limits."""

from __future__ import annotations

from ... import compose
from ...scope import out_of_scope
from ..context import TurnContext

NAME = "out_of_scope"
ABOUT_CARD = "coach-not-therapy"


def applies(ctx: TurnContext) -> bool:
    return bool(out_of_scope(ctx.text))


def handle(ctx: TurnContext) -> None:
    redirect = " ".join(compose.prompts()["out_of_scope"][out_of_scope(ctx.text)].split())
    ctx.say(compose.scripted_reflection(ctx.text, ctx.seed), trusted=False)
    ctx.say(redirect)
    ctx.scripted()
    ctx.out.referral = True
    ctx.out.cards.extend(ctx.cited(ABOUT_CARD))
