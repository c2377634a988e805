"""A question: answered first, from the card that answers it (any stage, this person's role),
with words to say when words were asked for, then at most one question back."""

from __future__ import annotations

from typing import Iterator

from ... import compose
from ...answers import answer_parts
from ...flow import COACHING_STAGES, TurnPlan, advance, requested_stage
from ..context import TurnContext
from ..types import Delta
from . import coaching
from .common import maybe_refer, take

NAME = "answer_question"


def applies(ctx: TurnContext) -> bool:
    r = ctx.reading
    return r.asks and r.intent not in ("plan", "topic") and not ctx.pending_check_in


def handle(ctx: TurnContext) -> Iterator[Delta]:
    jump = requested_stage(ctx.text)  # "can we talk about boundaries?" names its topic
    stages = [jump] if jump in COACHING_STAGES else [*COACHING_STAGES]
    hits = ctx.cards(ctx.text, stages, k=4)
    if not hits:  # no card answers it: the ordinary coaching turn takes over
        ctx.route = coaching.NAME
        yield from coaching.handle(ctx)
        return
    if ctx.reading.wants_words:  # asked for words: the best card that has some to offer
        hits = sorted(hits, key=lambda c: not (c.say or '"' in c.body))
    card, state = hits[0], ctx.state
    parts = []
    if compose.detect_feelings(ctx.text) and len(ctx.text.split()) > 6:
        parts.append(compose.scripted_reflection(ctx.text, ctx.seed))
    parts.extend(answer_parts(card, ctx.reading, state.role, ctx.seed))
    question = compose.pick_question(card, state)
    if question:
        parts.append(question)
        state.asked.append(question)
    ctx.say("\n\n".join(p for p in parts if p), trusted=False)
    ctx.scripted()
    take(ctx, card)
    if not ctx.out.referral:
        maybe_refer(ctx)
    ctx.out.stage = card.stage
    advance(state, TurnPlan(card.stage, card.stage != state.stage, "coach"), ctx.text)
