"""The steps of one turn: read → route → respond → check → store.

- **read**: screen the message (alone and with the recent conversation) and read it (intent,
  role, facts, feelings); the user turn is stored with both before anything else, so nothing the
  person writes is lost;
- **route**: the first handler in `routes.ROUTES` whose `applies(ctx)` is true;
- **respond**: the handler writes the reply's parts (the model phrases only what it does well),
  then the notices every route shares (the AI reminder, a new region, an open door);
- **check**: the output rails, once, on the whole reply as it will be shown;
- **store**: one write of the reply, the plan, the events and the session state.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterator

from .. import compose
from ..errors import CoachError
from ..logging_setup import redact
from ..reading import SESSION_ROLE, Reading, read
from ..region import detect_region
from ..safety import screen
from ..safety.output_rails import RailContext, check_reply
from ..safety.protocols import check_in_answer, load_wording
from ..safety.resources import normalise_region, region_name
from ..flow import COACHING_STAGES, SessionState
from .context import TurnContext
from .routes import route
from .types import Delta, Draft, TurnResult, add_notice, join_parts, source_of, title_from

log = logging.getLogger("coach.engine")

_HISTORY_FOR_SCREENING = 20
# Earlier user messages a turn reads (screening, referral cues): bounds the work per turn.
_HISTORY_WINDOW = 50
# A first message this long already tells what happened: the coach doesn't ask for it again.
STORY_WORDS = 25
# The reading's role confidence, summed over turns, from which an unknown session role is set
# (one confident message, or two that agree), as long as it clearly leads any other reading;
# changing an established role takes at least two exact statements' worth.
ROLE_CONFIDENT = 0.9
ROLE_SWITCH = 2.0
# Chatbot disclosure laws ask for the AI notice again after every 3 hours of continued use.
AI_REMINDER_S = 3 * 3600.0


def run_turn(coach: Any, session_id: str, text: str,
             stop: threading.Event | None = None) -> Iterator[Delta | TurnResult]:
    """One turn, step by step; streams Delta events, then the TurnResult. Setting `stop` ends
    a streaming reply at the next token: the model stops, what was shown is kept and said to
    be stopped, and the session goes on from before the reply."""
    t0 = time.perf_counter()
    ctx, session, t_screen = read_step(coach, session_id, text)
    ctx.stop = stop
    t_read = time.perf_counter()
    yield from respond_step(coach, ctx)
    t_reply = time.perf_counter()
    reply_text = check_step(ctx)
    out = ctx.out
    shown = out.shown.strip()
    if not shown:
        yield Delta(reply_text)
    elif reply_text.startswith(shown):
        if len(reply_text) > len(shown):
            yield Delta(reply_text[len(shown):])
    else:
        out.revised = True  # streamed text was replaced; TurnResult.reply is the truth
    plan = store_step(coach, ctx, session, reply_text)
    t_end = time.perf_counter()
    s = ctx.screening
    log.info("turn session=%s idx=%d text=%s route=%s stage=%s safety=%s/%s backend=%s "
             "notice=%s ms=%.0f", session_id, ctx.turn_idx, redact(text), ctx.route, out.stage,
             s.category, s.level, out.backend, bool(out.notice), 1000 * (t_end - t0))
    yield TurnResult(
        session=session_id, turn=ctx.turn_idx, user=text, reply=reply_text, stage=out.stage,
        sources=[source_of(c) for c in out.cards],
        safety={"category": s.category, "level": s.level},
        referral=out.referral, backend=out.backend, quick_exit=out.quick_exit,
        resources=out.resources, notice=out.notice, revised=out.revised,
        plan=list(plan.items) if plan else [], plan_agreed=bool(plan and plan.agreed),
        route=ctx.route,
        timings={"screen": t_screen - t0, "read": t_read - t_screen, "reply": t_reply - t_read,
                 "store": t_end - t_reply, "llm": out.llm_seconds, **out.meter.as_timings()},
    )


# ---- read -------------------------------------------------------------------------------
def read_step(coach: Any, session_id: str, text: str) -> tuple[TurnContext, Any, float]:
    """Screen and read the message, store it with both, and build the turn's context."""
    store = coach.store
    session = store.get_session(session_id)
    region = normalise_region(session.region or coach.region)
    saved = store.get_state(session_id)
    state = SessionState.from_dict(saved)
    said_region = detect_region(text) if state.user_turns < 6 else None
    if said_region and said_region != region:
        region = said_region
        store.update_session(session_id, region=region)
    past = store.recent_user_texts(session_id, _HISTORY_WINDOW)
    # Screening also reads messages the person took back (undo, edit): risk once written is
    # not forgotten because it was withdrawn.
    said = store.recent_user_texts(session_id, _HISTORY_FOR_SCREENING, include_superseded=True)
    screening = screen(text, said)
    current = screen(text)
    t_screen = time.perf_counter()
    last_reply = store.recent_user_texts(session_id, 1, role="assistant")
    reading = read(text, last_reply[-1] if last_reply else None)
    remember(state, reading)
    state.turn_no += 1
    user_turn = store.add_user_turn(session_id, text, stage=state.stage,
                                    safety={**screening.to_dict(), "reading": reading.to_dict()},
                                    state_before=saved)
    if screening.category == "abuse" or current.category == "abuse":
        state.abuse_raised = True
    if screening.is_risk:
        store.record_safety_event(session_id, "screening", category=screening.category,
                                  level=screening.level, turn_idx=user_turn.idx,
                                  detail={"reasons": list(screening.reasons)})
    pending, state.check_in = state.check_in, ""
    ctx = TurnContext(
        coach=coach, session_id=session_id, text=text, region=region, state=state, past=past,
        screening=screening, current=current, reading=reading, turn_idx=user_turn.idx,
        said_region=said_region, pending_check_in=pending,
        check_in_answer=check_in_answer(text) if pending else "",
        out=Draft(stage=state.stage, region=region))
    return ctx, session, t_screen


def remember(state: SessionState, reading: Reading) -> None:
    """Keep what the reading found: facts stay known; the role changes only on clear evidence
    (an exact first- or third-person statement, or a confident reading when none is set)."""
    for key, value in reading.facts.items():
        state.facts.setdefault(key, value)
    if state.user_turns == 0 and reading.words >= STORY_WORDS:
        state.facts.setdefault("event", "told in their first message")
    role = SESSION_ROLE.get(reading.role)
    if not role:
        return
    evidence = state.role_evidence
    evidence[role] = round(evidence.get(role, 0.0) + reading.role_p, 3)
    best = max(evidence, key=evidence.get)
    others = sum(v for k, v in evidence.items() if k != best)
    if state.role == "unknown":
        if reading.role_p >= 1.0 or (evidence[best] >= ROLE_CONFIDENT
                                     and evidence[best] > 2 * others):
            state.role = role if reading.role_p >= 1.0 else best
    elif best != state.role and evidence[best] >= ROLE_SWITCH and evidence[best] > 2 * (
            evidence.get(state.role, 0.0)):
        # A hurt partner who says "I lied to my friends about it" stays a hurt partner; only
        # repeated, clear statements change an established role.
        state.role = best


# ---- route and respond ------------------------------------------------------------------
def respond_step(coach: Any, ctx: TurnContext) -> Iterator[Delta]:
    """The chosen handler writes the reply; then the notices every route shares."""
    handler = route(ctx)
    ctx.route = handler.NAME
    before = SessionState.from_dict(ctx.state.to_dict())
    try:
        stream = handler.handle(ctx)
        shown = ""
        for delta in stream or ():
            if ctx.stop is not None and ctx.stop.is_set():
                stream.close()  # closes the model's stream: it stops generating
                _stopped(ctx, before, shown)
                break
            shown += delta.text
            yield delta
    except CoachError:
        raise
    except Exception:  # a bug must not lose the turn or show a traceback
        log.exception("turn failed in %s; answering with the composer", ctx.route)
        ctx.out = Draft(stage=ctx.state.stage, backend="scripted", region=ctx.region)
        ctx.say(compose.prompts()["reflections_neutral"][0])
        ctx.out.notice = "(Something went wrong on my side, so this reply is shorter than usual.)"
    out, state = ctx.out, ctx.state
    if ctx.check_in_answer == "other" and not out.safety_stop:
        ctx.say(load_wording("check_in")["door_open"][0])
    now = coach.clock()
    if now - (state.ai_notice_at or now) >= AI_REMINDER_S or not state.ai_notice_at:
        if state.ai_notice_at:  # sessions older than this field are told from now on
            out.notice = add_notice(out.notice, compose.prompts()["ai_reminder_notice"])
        state.ai_notice_at = now
    if ctx.said_region and not out.safety_stop and not ctx.current.is_risk:
        ctx.say(compose.prompts()["region_set"].format(name=region_name(ctx.region)),
                trusted=False)


def _stopped(ctx: TurnContext, before: SessionState, shown: str) -> None:
    """The person pressed stop: keep what they saw, say so, and leave the session as it was
    before this reply (a half-written reply asked nothing and moved nowhere)."""
    ctx.state = before
    backend = ctx.coach.backend_name if shown.strip() else "scripted"  # who wrote what was shown
    ctx.out = Draft(stage=before.stage, backend=backend, region=ctx.region, shown=shown)
    if shown.strip():
        ctx.out.parts.append(shown)
    ctx.out.notice = compose.prompts()["stopped_notice"]
    ctx.route = f"{ctx.route} (stopped)"


# ---- check ------------------------------------------------------------------------------
def check_step(ctx: TurnContext) -> str:
    """Join the parts and run the output rails once on the whole reply as it will be shown."""
    out = ctx.out
    body = join_parts(out.parts)
    # Our own reviewed wording (cards, protocol and referral texts) is allowed as it is;
    # the rails judge what a model wrote around it.
    allowed = tuple(t for c in out.cards for t in (c.tip, c.body, *c.questions)) + tuple(
        out.trusted)
    verdict = check_reply(body, RailContext(abuse_raised=ctx.state.abuse_raised,
                                            allowed_text=allowed))
    if not verdict.ok and out.backend != "scripted":
        out.events.append(("output_rail", verdict.violations))
        body = verdict.cleaned or join_parts(out.parts[1:]) or body
    if out.notice:
        body = f"{body}\n\n{out.notice}"
    return body


# ---- store ------------------------------------------------------------------------------
def store_step(coach: Any, ctx: TurnContext, session: Any, reply_text: str) -> Any:
    """One write of what this turn decided: events, plan, reply, session and state."""
    store, out, state, sid = coach.store, ctx.out, ctx.state, ctx.session_id
    for said in out.screenings:  # risk decisions the handler made (a check-in, a yes to it)
        store.record_safety_event(sid, "screening", category=said.category, level=said.level,
                                  turn_idx=ctx.turn_idx, detail={"reasons": list(said.reasons)})
    if out.resources:
        # The anonymous count an operator reports: month, category, level; nothing else.
        s, c = ctx.screening, ctx.current
        store.count_referral(s.category if s.is_risk else
                             (c.category if c.is_risk else "check_in_yes"),
                             s.level if s.is_risk else "concern")
    if out.plan_items is not None:
        store.set_plan(sid, out.plan_items, agreed=out.plan_agreed)
        if out.plan_agreed and session.history_opt_in:
            topics = ", ".join(compose.stage_name(s) for s in state.visited
                               if s in COACHING_STAGES)
            store.save_summary(sid, f"{topics or 'what happened'}. Your plan: "
                                    f"{'; '.join(state.plan_items[:5])}")
    for kind, detail in out.events:
        store.record_safety_event(sid, kind, turn_idx=ctx.turn_idx,
                                  detail={"violations": list(detail)})
    store.add_assistant_turn(
        sid, reply_text, stage=out.stage, sources=[source_of(c) for c in out.cards],
        safety={"category": ctx.screening.category, "level": ctx.screening.level,
                "route": ctx.route},
        backend=out.backend)
    # (add_assistant_turn already copied the stage and backend onto the session)
    store.update_session(sid, role=state.role,
                         **({} if session.title else {"title": title_from(ctx.text)}))
    store.set_state(sid, state.to_dict())
    return store.get_plan(sid)
