"""The plan: offered as 3-5 actions from the guidance discussed; then agreed, changed by the
person's own words, or revised."""

from __future__ import annotations

import re

from ... import compose
from ...flow import advance, is_agreement
from ...knowledge import Card
from ..context import TurnContext
from .common import all_clear

NAME = "plan"
# "I'd like to add a weekly walk", "I will text when I'm late": a step the person proposes.
PLAN_STEP = re.compile(r"\b(i will|i'll|i want to|i'd like to|i would like to|i can|we will|"
                       r"we'll|we could|add|try|maybe)\b", re.I)


def applies(ctx: TurnContext) -> bool:
    return ctx.plan.kind in ("plan", "plan_confirm")


def handle(ctx: TurnContext) -> None:
    state, out, plan = ctx.state, ctx.out, ctx.plan
    all_clear(ctx)
    out.stage = plan.stage
    if plan.kind == "plan_confirm":
        _confirm(ctx)
        advance(state, plan, ctx.text)
        return
    advance(state, plan, ctx.text)
    ctx.say(compose.plan_reply(state), trusted=False)
    state.plan_offered = True
    out.plan_items = state.plan_items[:5]
    out.cards.extend(_sources(ctx))


def _confirm(ctx: TurnContext) -> None:
    state, out, text = ctx.state, ctx.out, ctx.text
    p = compose.prompts()["plan"]
    if is_agreement(text):
        state.plan_agreed = True
        ctx.say(f"{p['agreed']}\n\n{compose.prompts()['closing_reminder']}", trusted=False)
        out.plan_agreed = True
    elif len(text.split()) >= 4 and "?" not in text and PLAN_STEP.search(text):
        state.plan_items.append(text.strip().rstrip(".") + ".")  # their own words
        ctx.say(compose.plan_reply(state), trusted=False)
    else:
        ctx.say(p["revise"], trusted=False)
    out.plan_items = state.plan_items[:5]


def _sources(ctx: TurnContext) -> list[Card]:
    """The cards the plan's steps came from (cited under the plan)."""
    state = ctx.state
    items = set(state.plan_items[:5])
    cited = []
    for card_id in dict.fromkeys(state.used_cards):
        card = ctx.cited(card_id)
        if card and compose.plan_item_from(card[0], state.role) in items:
            cited.extend(card)
    return cited
