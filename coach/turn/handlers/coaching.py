"""The ordinary coaching turn: where the session's map points (understanding first, then the
topic the person is on), a card's idea and one question, around a reflection the model writes
(or, with the `full` strategy, a reply a strong model phrases from the same card)."""

from __future__ import annotations

import time
from typing import Iterator

from ... import compose
from ...flow import COACHING_STAGES, advance, detect_role
from ...knowledge import Card
from ...safety.output_rails import RailContext
from ..context import TurnContext
from ..types import Delta, add_notice
from .common import all_clear, maybe_refer, take

NAME = "coaching"


def applies(ctx: TurnContext) -> bool:
    return True


def handle(ctx: TurnContext) -> Iterator[Delta]:
    state, out, plan, text = ctx.state, ctx.out, ctx.plan, ctx.text
    all_clear(ctx)
    out.stage = plan.stage
    p = compose.prompts()
    intro = ""
    if plan.jumped:
        intro = p["jump_ack"].format(stage_name=compose.stage_name(plan.stage))
    elif plan.stage in COACHING_STAGES and plan.stage != state.stage:
        intro = p["stage_intros"].get(plan.stage, "")
    card = None
    question = ""
    # Short answers ("I feel stupid and angry") lean on what was said just before.
    query = text if plan.jumped or not ctx.past else f"{ctx.past[-1][-600:]} {text}"
    if plan.kind == "understand":
        question = _understand_question(ctx)
        if state.turns_in_stage >= 1 or state.stage == "understand":
            hits = ctx.cards(query, ["understand", "root_causes"], k=2)
            card = hits[0] if hits else None
    else:
        hits = ctx.cards(query, [plan.stage], k=3)
        if not hits and not out.guidance_missing:
            hits = ctx.cards(query, list(COACHING_STAGES), k=3)
        card = hits[0] if hits else None
        question = compose.pick_question(card, state) if card else ""
    if card is None and not question and out.guidance_missing:
        # Degraded: a reflection and an open question still help while guidance is away.
        generic = p["general_questions"]
        question = generic[state.user_turns % len(generic)]
    coach = ctx.coach
    if coach.strategy == "full" and coach.llm is not None and card is not None:
        reply = yield from _full_reply(ctx, card, question)
    else:
        if (plan.jumped and len(text.split()) <= 8 and "?" not in text
                and not compose.detect_feelings(text)):
            reflection = ""  # a plain "let's talk about X": the bridge line answers it
            ctx.scripted()
        else:
            reflection = yield from _reflection(ctx)
        if card is not None:  # (intro is empty in the understand stage)
            reply = compose.coaching_reply(reflection, card, question, intro=intro,
                                           turn=state.user_turns)
        else:
            reply = compose.understand_reply(reflection, question)
    ctx.say(reply, trusted=False)
    if card is not None:
        take(ctx, card)
    if question:
        state.asked.append(question)
    if plan.stage != "professional_help":
        maybe_refer(ctx)
    advance(state, plan, text)


def _understand_question(ctx: TurnContext) -> str:
    """The next thing to understand that the person has not told yet (role, when, hope)."""
    state = ctx.state
    qs = compose.prompts()["understand_questions"]
    known_role = state.role != "unknown" or detect_role(ctx.text)
    known = {"timeline": "when" in state.facts or "duration" in state.facts}
    for key in ("role", "timeline", "hope"):
        if key in state.understand_asked or (key == "role" and known_role) or known.get(key):
            continue
        state.understand_asked.append(key)
        if key == "role" and "event" in state.facts:
            return qs["role_only"]
        return qs[key]
    return ""


def _reflection(ctx: TurnContext) -> Iterator[Delta]:
    """A one-sentence reflection: from the LLM when it behaves, else from the composer."""
    coach, out, state, text = ctx.coach, ctx.out, ctx.state, ctx.text
    if coach.reflector is None:
        ctx.scripted()
        return compose.scripted_reflection(text, state.user_turns)
    t = time.perf_counter()
    result = yield from coach.reflector.reflect(
        text, RailContext(abuse_raised=state.abuse_raised), turn=state.user_turns,
        callbacks=[out.meter])
    out.llm_seconds += time.perf_counter() - t
    if result.text:
        out.backend = coach.backend_name
        out.shown = result.shown
        return result.text
    ctx.scripted()
    if result.violations:  # the model answered, but its words failed the rails
        out.events.append(("output_rail", result.violations))
    else:
        out.notice = add_notice(out.notice, compose.prompts()["fallback_notice"])
        out.events.append(("fallback", [result.error or "no usable reply"]))
    return compose.scripted_reflection(text, state.user_turns)


def _full_reply(ctx: TurnContext, card: Card, question: str) -> Iterator[Delta]:
    """A strong model phrases the whole reply from the card and the question."""
    coach, out, state, text = ctx.coach, ctx.out, ctx.state, ctx.text
    t = time.perf_counter()
    result = yield from coach.reflector.full_reply(
        text, card, question, state, RailContext(abuse_raised=state.abuse_raised),
        callbacks=[out.meter])
    out.llm_seconds += time.perf_counter() - t
    if result.text:
        out.backend = coach.backend_name
        out.shown = result.shown
        return result.text
    out.shown = result.shown
    if result.error:
        out.notice = add_notice(out.notice, compose.prompts()["fallback_notice"])
        out.events.append(("fallback", [result.error]))
    else:
        out.events.append(("output_rail", result.violations))
    ctx.scripted()
    reflection = compose.scripted_reflection(text, state.user_turns)
    return compose.coaching_reply(reflection, card, question, turn=state.user_turns)
