"""A later turn of a conversation where risk came up: calm, safety first, services in reach."""

from __future__ import annotations

from typing import Any

from ... import compose
from ...safety.protocols import load_wording
from ...safety.resources import emergency_number, resources_for
from ...safety.types import Screening
from ..context import TurnContext
from ..types import pick, resource_dict
from .common import protocol

NAME = "safety_follow_up"
FOLLOW_UP = ("self_harm", "abuse", "harm_to_others", "child_safety", "medical_emergency")


def applies(ctx: TurnContext) -> bool:
    s = ctx.screening
    return s.category in FOLLOW_UP and s.category not in ctx.state.cleared


def handle(ctx: TurnContext) -> None:
    s = ctx.screening
    ctx.scripted()
    ctx.out.referral = True
    if s.category == "self_harm" and _self_harm(ctx, load_wording("followup")):
        return
    if s.category != "abuse":
        protocol(ctx, Screening(s.category, "concern", s.reasons))
        return
    _abuse(ctx, load_wording("followup"))


def _self_harm(ctx: TurnContext, words: dict[str, Any]) -> bool:
    """The next safety question in order (thoughts → plan → intent), or the all-clear."""
    state, out, low = ctx.state, ctx.out, ctx.text.lower()
    # the crisis card is the guidance these replies rest on
    out.cards.extend(ctx.safety_cards("thoughts of suicide or self-harm " + ctx.text))
    if any(w in low for w in words["safe_words"]):
        state.cleared.append("self_harm")  # coaching resumes from the next turn
        ctx.say(words["self_harm"]["safe_ack"])
        out.resources = [resource_dict(r) for r in resources_for(ctx.region, "self_harm")[:2]]
        return True
    if state.self_harm_step > 2:
        return False
    wording = load_wording("self_harm")
    question = wording["questions"][min(state.self_harm_step, 2)]
    state.self_harm_step += 1
    services = resources_for(ctx.region, "self_harm")[:3]
    out.resources = [resource_dict(r) for r in services]
    after = " ".join(wording["after_question"].split()).format(
        emergency=emergency_number(ctx.region))
    ctx.say(pick(words["self_harm"]["opening"], ctx.seed) + " " + question)
    ctx.say(after + "\n" + "\n".join(f"- {r.markdown()}" for r in services))
    return True


def _abuse(ctx: TurnContext, words: dict[str, Any]) -> None:
    w, out, low = words["abuse"], ctx.out, ctx.text.lower()
    out.quick_exit = True
    ctx.say(compose.scripted_reflection(ctx.text, ctx.seed), trusted=False)
    ctx.say(pick(w["opening"], ctx.seed))
    if any(k in low for k in words["couples_words"]):
        ctx.say(" ".join(w["couples"].split()))
    cards = ctx.safety_cards(ctx.text, k=2)
    if cards:
        out.cards.append(cards[0])
        if cards[0].tip:
            ctx.say(cards[0].tip)
    services = resources_for(ctx.region, "abuse")[:2]
    out.resources = [resource_dict(r) for r in services]
    ctx.say(" ".join(w["reminder"].split()) + "\n" +
            "\n".join(f"- {r.markdown()}" for r in services))
    ctx.say(pick(w["questions"], ctx.seed))
