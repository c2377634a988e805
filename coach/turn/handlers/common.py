"""What several handlers share: the safety protocol, the referral, taking a card."""

from __future__ import annotations

from ... import compose
from ...flow import COACHING_STAGES
from ...knowledge import Card
from ...safety.protocols import safety_reply
from ...safety.referral import should_refer
from ...safety.types import Screening
from ..context import TurnContext
from ..types import has_question, resource_dict, strip_questions


def protocol(ctx: TurnContext, screening: Screening) -> None:
    """The crisis protocol for this risk: our reviewed wording and services, never a model's."""
    state, out = ctx.state, ctx.out
    sr = safety_reply(screening, ctx.region, {"turn": state.user_turns,
                                              "abuse_raised": state.abuse_raised,
                                              "self_harm_step": min(state.self_harm_step, 2)})
    if screening.category == "self_harm":
        state.self_harm_step += 1
    ctx.scripted()
    if sr is None:
        return
    ctx.say(sr.text)
    out.referral = True
    out.quick_exit = sr.quick_exit
    out.resources = [resource_dict(r) for r in sr.resources]
    out.safety_stop = sr.stop_coaching
    out.cards.extend(ctx.safety_cards(ctx.text))
    if not sr.stop_coaching and not has_question(sr.text):
        # e.g. a declined surveillance request: offer what builds trust instead
        hits = ctx.cards(ctx.text + " honest conversation", ["communication", "boundaries"], k=3)
        if hits:
            card = hits[0]
            out.cards.append(card)
            ctx.say(card.tip, trusted=False)
            q = compose.pick_question(card, state)
            if q:
                ctx.say(q, trusted=False)
                state.asked.append(q)


def take(ctx: TurnContext, card: Card) -> None:
    """Cite a card this reply used; its action for this person joins the plan's candidates."""
    state = ctx.state
    ctx.out.cards.append(card)
    state.used_cards.append(card.id)
    item = compose.plan_item_from(card, state.role)
    if card.stage in COACHING_STAGES and item and item not in state.plan_items:
        state.plan_items.append(item)
    if card.stage == "professional_help":
        ctx.out.referral = True


def maybe_refer(ctx: TurnContext) -> None:
    """Add a referral to professional help when the conversation calls for one."""
    state, out = ctx.state, ctx.out
    referral = should_refer([*ctx.past, ctx.text], "abuse" if state.abuse_raised else "none",
                            asked=False, region=out.region)
    if referral is None or out.referral or not referral_due(state):
        return
    ctx.say(strip_questions(referral.text))
    # cite the guidance the referral rests on
    help_cards = ctx.cards(referral.text, ["professional_help"], k=1)
    out.cards.extend(c for c in help_cards if c not in out.cards)
    out.referral = True
    state.asked.append("__referral__")


def referral_due(state) -> bool:
    """Suggest professional help at most once every few turns."""
    return state.asked.count("__referral__") == 0 or state.user_turns % 4 == 0


def all_clear(ctx: TurnContext) -> None:
    """A plain "no" to the coach's direct safety question: thank them, then go on."""
    from ...safety.protocols import check_in_all_clear

    if ctx.check_in_answer == "no":
        ctx.state.checked_in.append(ctx.pending_check_in)
        ctx.say(check_in_all_clear(ctx.state.user_turns))
