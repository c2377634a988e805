"""The coaching engine: one user turn in, one safe, grounded, streamed reply out.

Order of work for a turn (why: nothing the person writes is ever lost, and safety never waits
on a model): validate → screen → store the user turn → safety protocol (no LLM) or coaching
(retrieval → reflection by the LLM, or the composer → idea and question from a card) → output
rails → store the reply. Any LLM failure falls back to the deterministic composer and says so.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, Iterator

from . import compose
from .errors import CoachError, IndexUnavailable, InputError
from .flow import (
    COACHING_STAGES,
    SessionState,
    TurnPlan,
    advance,
    is_agreement,
    plan_turn,
    requested_stage,
)
from .knowledge import Card
from .logging_setup import redact
from .reflect import Reflector
from .answers import about_reply, answer_parts, label_reply
from .reading import SESSION_ROLE, Reading, read
from .safety import screen
from .safety.injection import detect_injection, meta_reply
from .safety.output_rails import RailContext, check_reply
from .safety.protocols import (
    check_in_all_clear,
    check_in_answer,
    check_in_question,
    load_wording,
    safety_reply,
)
from .safety.referral import should_refer
from .region import detect_region
from .scope import out_of_scope
from .settings import settings
from .safety.resources import emergency_number, normalise_region, region_name, resources_for
from .safety.types import Screening
from .turn import (
    MAX_MESSAGE_CHARS,
    Delta,
    Draft,
    TurnResult,
    add_notice,
    has_question,
    join_parts,
    pick,
    resource_dict,
    source_of,
    strip_questions,
    title_from,
    validate_message,
)

__all__ = ["Coach", "Delta", "TurnResult", "MAX_MESSAGE_CHARS", "validate_message"]

log = logging.getLogger("coach.engine")
_HISTORY_FOR_SCREENING = 20
# Earlier user messages a turn reads (screening, referral cues): bounds the work per turn.
_HISTORY_WINDOW = 50
# The cards that the answers about the coach and about labels rest on.
ABOUT_CARD, LABEL_CARD = "coach-not-therapy", "be-specific-about-behaviours"
# A first message this long already tells what happened: the coach doesn't ask for it again.
STORY_WORDS = 25
# The reading's role confidence, summed over turns, from which an unknown session role is set
# (one confident message, or two that agree), as long as it clearly leads any other reading;
# changing an established role takes at least two exact statements' worth.
ROLE_CONFIDENT = 0.9
ROLE_SWITCH = 2.0
# Chatbot disclosure laws ask for the AI notice again after every 3 hours of continued use.
AI_REMINDER_S = 3 * 3600.0

# How long to wait before trying an unavailable guidance index again.
_INDEX_RETRY_S = 5.0


def _can_prefill(llm: Any) -> bool:
    """Whether the backend offers raw completions with its chat template (the compose path)."""
    known = getattr(llm, "can_prefill", None)
    if known is not None:
        return bool(known)
    return callable(getattr(llm, "complete", None)) and callable(getattr(llm, "chat_template",
                                                                         None))


class Coach:
    """Runs structured sessions. Thread-safe: each session is served by one turn at a time."""

    def __init__(self, llm: Any = None, store: Any = None, index: Any = None,
                 region: str | None = None, strategy: str | None = None,
                 clock: Any = None) -> None:
        from .llm import get_backend
        from .retrieval import get_index
        from .store import SessionStore

        self.store = store or SessionStore()
        self._index_retry_at = 0.0
        self._reopen_index = index is None  # only the shared index is reopened after a fault
        if index is None:
            try:
                index = get_index()
            except IndexUnavailable as exc:
                # Coaching goes on without guidance cards; the index is retried later.
                log.warning("guidance index unavailable at start: %s", exc)
                index = _NoIndex(str(exc))
                self._index_retry_at = time.monotonic() + _INDEX_RETRY_S
        self.index = index
        name = llm if isinstance(llm, str) or llm is None else None
        name = name or settings().llm
        if not name.startswith("langchain:"):
            name = name.lower()
        if name == "scripted":
            self.llm = None
        elif isinstance(llm, str) or llm is None:
            self.llm = get_backend(name)
        else:
            self.llm = llm
        self.backend_name = "scripted" if self.llm is None else getattr(self.llm, "name", name)
        # The strategy follows what the model can do: `compose` needs raw completions with the
        # model's chat template (to pre-fill the reply's opening); any other model writes `full`.
        default_strategy = "compose" if self.llm is None or _can_prefill(self.llm) else "full"
        self.strategy = (strategy or settings().strategy or default_strategy).lower()
        self.reflector = Reflector(self.llm) if self.llm is not None else None
        self.region = normalise_region(region or settings().region)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.backend_problem: str | None = None
        self.clock = clock or time.time  # wall clock for the AI reminder (tests pass their own)

    def self_test(self) -> str | None:
        """Check that the language model really answers (one token); None when it does.

        When it does not (the local model crashing on this CPU, a server that is down), the coach
        switches to the scripted composer so the person still gets replies, and the plain
        sentence that names the cause and the fix is returned and kept in `backend_problem`.
        """
        test = getattr(self.llm, "self_test", None)
        if test is None:
            return None
        try:
            test()
        except CoachError as exc:
            log.warning("language model self-test failed: %s", exc)
            self.backend_problem = str(exc)
            close = getattr(self.llm, "close", None)
            if close is not None:
                close()
            self.llm, self.reflector, self.backend_name = None, None, "scripted"
            return self.backend_problem
        return None

    # ---- sessions ---------------------------------------------------------------------
    # ---- what the web app and the API need, so they never reach into the store -------------
    def list_sessions(self, limit: int = 50) -> list[Any]:
        """Saved sessions, newest first."""
        return self.store.list_sessions(limit=limit)

    def session(self, session_id: str) -> Any:
        """One saved session (SessionNotFound if there is none)."""
        return self.store.get_session(session_id)

    def history(self, session_id: str) -> list[Any]:
        """Every turn of a session, in order."""
        return self.store.turns(session_id)

    def plan(self, session_id: str) -> Any:
        """The session's plan, or None."""
        return self.store.get_plan(session_id)

    def set_session_region(self, session_id: str, region: str) -> None:
        self.store.update_session(session_id, region=normalise_region(region))

    def export(self, session_id: str, fmt: str = "md") -> str:
        """The whole session as Markdown or JSON."""
        return self.store.export(session_id, fmt)

    def delete(self, session_id: str) -> None:
        """Delete a session and everything kept with it."""
        self.store.delete_session(session_id)

    def add_checkin(self, session_id: str, rating: int) -> Any:
        return self.store.add_checkin(session_id, rating)

    def checkins(self, limit: int = 100) -> list[Any]:
        return self.store.checkins(limit=limit)

    def card(self, card_id: str) -> Any:
        """A guidance card by id (None when unknown or the index is unavailable)."""
        try:
            return self.index.card(card_id)
        except Exception:  # noqa: BLE001 - a missing card must not break a page
            return None

    def owners(self) -> Any:
        """Who owns which session in the web app (kept in the session database)."""
        from .web.auth import StoreOwners

        return StoreOwners(self.store)

    def feedback(self, session_id: str, value: str | None, *, turn_idx: int | None = None,
                 reply_text: str | None = None) -> int:
        """Keep what the person thought of a reply, found by its turn or its text; returns the
        turn idx. Stored on this machine with the session, in exports, never sent anywhere."""
        if turn_idx is None:
            wanted = " ".join((reply_text or "").split())
            for t in reversed(self.store.turns(session_id)):
                if t.role == "assistant" and " ".join(t.text.split()) == wanted:
                    turn_idx = t.idx
                    break
            else:
                raise InputError("That reply isn't part of this conversation.")
        self.store.set_feedback(session_id, turn_idx, value)
        return turn_idx

    def feedback_summary(self) -> list[dict[str, Any]]:
        return self.store.feedback_summary()

    def referral_counts(self) -> list[dict[str, Any]]:
        """Anonymous crisis-referral counts per month, category and level (no identifiers)."""
        return self.store.referral_counts()

    def start_session(self, region: str | None = None, history_opt_in: bool = False,
                      title: str = "") -> tuple[str, str]:
        """Create a session and return (id, welcome message); the welcome is stored as turn 0."""
        region = normalise_region(region or self.region)
        session = self.store.create_session(title=title, region=region, stage="welcome",
                                            history_opt_in=history_opt_in,
                                            backend=self.backend_name)
        p = compose.prompts()
        summary = self.store.latest_summary() if history_opt_in else None
        welcome = p["welcome_back"].format(summary=summary) if summary else p["welcome"]
        self.store.add_assistant_turn(session.id, welcome, stage="welcome", sources=[],
                                      safety={"category": "none", "level": "none"},
                                      backend="scripted")
        # The welcome says it is an AI: the 3-hour reminder counts from now.
        self._save_state(session.id, SessionState(ai_notice_at=self.clock()))
        return session.id, welcome

    def _lock(self, session_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(session_id, threading.Lock())

    def _load_state(self, session_id: str) -> SessionState:
        return SessionState.from_dict(self.store.get_state(session_id))

    def _save_state(self, session_id: str, state: SessionState) -> None:
        self.store.set_state(session_id, state.to_dict())

    # ---- a turn -----------------------------------------------------------------------
    def reply(self, session_id: str, text: str) -> TurnResult:
        """Answer one user message (non-streaming convenience)."""
        result = None
        for event in self.respond(session_id, text):
            if isinstance(event, TurnResult):
                result = event
        assert result is not None
        return result

    def respond(self, session_id: str, text: str) -> Iterator[Delta | TurnResult]:
        """Stream the reply to one user message: Delta events, then the TurnResult."""
        text = validate_message(text)
        with self._lock(session_id):
            yield from self._respond(session_id, text)

    def _respond(self, session_id: str, text: str) -> Iterator[Delta | TurnResult]:
        t0 = time.perf_counter()
        session = self.store.get_session(session_id)
        region = normalise_region(session.region or self.region)
        state = self._load_state(session_id)
        said_region = detect_region(text) if state.user_turns < 6 else None
        if said_region and said_region != region:
            region = said_region
            self.store.update_session(session_id, region=region)
        past = self.store.recent_user_texts(session_id, _HISTORY_WINDOW)
        screening = screen(text, past[-_HISTORY_FOR_SCREENING:])
        current = screen(text)
        t_screen = time.perf_counter()
        prev_coach = self.store.recent_user_texts(session_id, 1, role="assistant")
        reading = read(text, prev_coach[-1] if prev_coach else None)
        remember(state, reading)
        state.turn_no += 1
        t_read = time.perf_counter()
        user_turn = self.store.add_user_turn(
            session_id, text, stage=state.stage,
            safety={**screening.to_dict(), "reading": reading.to_dict()})
        if screening.category == "abuse" or current.category == "abuse":
            state.abuse_raised = True
        if screening.is_risk:
            self.store.record_safety_event(session_id, "screening", category=screening.category,
                                           level=screening.level, turn_idx=user_turn.idx,
                                           detail={"reasons": list(screening.reasons)})
        out = Draft(stage=state.stage, region=region)
        answer = ""
        try:
            asked, state.check_in = state.check_in, ""
            answer = check_in_answer(text) if asked else ""
            if current.is_risk or (screening.level == "urgent"):
                state.cleared = [c for c in state.cleared if c != screening.category]
                self._safety_turn(out, screening if screening.level == "urgent" else current,
                                  region, state, text)
            elif answer == "yes":
                # The person said yes (or wasn't sure) to the direct question: the protocol.
                said = Screening(asked, "concern", ("answered yes to the coach's safety check-in",))
                self.store.record_safety_event(session_id, "screening", category=asked,
                                               level="concern", turn_idx=user_turn.idx,
                                               detail={"reasons": list(said.reasons)})
                if asked == "abuse":
                    state.abuse_raised = True
                self._safety_turn(out, said, region, state, text)
            elif (not asked and screening.needs_check_in
                  and screening.category not in state.checked_in):
                self._check_in_turn(out, screening, region, state, text)
                self.store.record_safety_event(session_id, "screening", category=screening.category,
                                               level="check_in", turn_idx=user_turn.idx,
                                               detail={"reasons": list(screening.reasons)})
            elif screening.category in FOLLOW_UP and screening.category not in state.cleared:
                self._follow_up_turn(out, screening, region, state, text)
            elif scope := out_of_scope(text):
                redirect = " ".join(compose.prompts()["out_of_scope"][scope].split())
                out.parts.append(compose.scripted_reflection(text, state.turn_no))
                out.parts.append(redirect)
                out.trusted.append(redirect)
                out.backend = "scripted"
                out.referral = True
                out.cards.extend(self._cited(out, ABOUT_CARD))  # the coach's limits
            elif (inj := detect_injection(text)).is_injection:
                out.parts.append(meta_reply(inj.kind, seed=state.turn_no))
                out.trusted.append(out.parts[-1])
                out.backend = "scripted"
            elif reading.intent == "coach":
                out.parts.append(about_reply(text, self.store_description(), state.user_turns))
                out.trusted.append(out.parts[-1])
                out.backend = "scripted"
                out.cards.extend(self._cited(out, ABOUT_CARD))
                state.user_turns += 1
            elif reading.intent == "label":
                out.parts.append(label_reply(text, state.user_turns, state.abuse_raised))
                out.trusted.append(out.parts[-1])
                out.backend = "scripted"
                # what happens matters more than a name: that card if it fits this person,
                # else the card on what the coach can't do (diagnose)
                fitting = [c for c in self._cited(out, LABEL_CARD) if c.fits_role(state.role)]
                out.cards.extend(fitting or self._cited(out, ABOUT_CARD))
                state.user_turns += 1
            elif (reading.asks and reading.intent not in ("plan", "topic") and not asked
                  and self._answer_turn(out, state, text, reading, past)):
                pass
            else:
                if answer == "no":  # a plain "no": thank them, then coach as usual
                    state.checked_in.append(asked)
                    out.parts.append(check_in_all_clear(state.user_turns))
                    out.trusted.append(out.parts[-1])
                yield from self._coaching_turn(out, state, text, past)
        except CoachError:
            raise
        except Exception:  # a bug must not lose the turn or show a traceback
            log.exception("turn failed; answering with the composer")
            out = Draft(stage=state.stage, backend="scripted")
            out.parts.append(compose.prompts()["reflections_neutral"][0])
            out.notice = "(Something went wrong on my side, so this reply is shorter than usual.)"
        if answer == "other" and not out.safety_stop:
            out.parts.append(load_wording("check_in")["door_open"][0])
            out.trusted.append(out.parts[-1])
        t_reply = time.perf_counter()
        now = self.clock()
        if now - (state.ai_notice_at or now) >= AI_REMINDER_S or not state.ai_notice_at:
            if state.ai_notice_at:  # sessions older than this field are told from now on
                out.notice = add_notice(out.notice, compose.prompts()["ai_reminder_notice"])
            state.ai_notice_at = now
        if out.resources:
            # The anonymous count an operator reports: month, category, level; nothing else.
            self.store.count_referral(screening.category if screening.is_risk else
                                      (current.category if current.is_risk else "check_in_yes"),
                                      screening.level if screening.is_risk else "concern")
        if said_region and not out.safety_stop and not current.is_risk:
            out.parts.append(compose.prompts()["region_set"].format(name=region_name(region)))
        reply_text = self._finalise(out, session_id, user_turn.idx, state)
        shown = out.shown.strip()
        if not shown:
            yield Delta(reply_text)
        elif reply_text.startswith(shown):
            if len(reply_text) > len(shown):
                yield Delta(reply_text[len(shown):])
        else:
            out.revised = True  # streamed text was replaced; TurnResult.reply is the truth
        plan = self.store.get_plan(session_id)
        self.store.add_assistant_turn(
            session_id, reply_text, stage=out.stage, sources=[source_of(c) for c in out.cards],
            safety={"category": screening.category, "level": screening.level},
            backend=out.backend)
        # (add_assistant_turn already copied the stage and backend onto the session)
        self.store.update_session(session_id, role=state.role,
                                  **({} if session.title else {"title": title_from(text)}))
        self._save_state(session_id, state)
        t_end = time.perf_counter()
        log.info("turn session=%s idx=%d text=%s stage=%s safety=%s/%s backend=%s notice=%s "
                 "ms=%.0f", session_id, user_turn.idx, redact(text), out.stage,
                 screening.category, screening.level, out.backend, bool(out.notice),
                 1000 * (t_end - t0))
        yield TurnResult(
            session=session_id, turn=user_turn.idx, user=text, reply=reply_text, stage=out.stage,
            sources=[source_of(c) for c in out.cards],
            safety={"category": screening.category, "level": screening.level},
            referral=out.referral, backend=out.backend, quick_exit=out.quick_exit,
            resources=out.resources, notice=out.notice, revised=out.revised,
            plan=list(plan.items) if plan else [], plan_agreed=bool(plan and plan.agreed),
            timings={"screen": t_screen - t0, "read": t_read - t_screen,
                     "reply": t_reply - t_read,
                     "store": t_end - t_reply, "llm": out.llm_seconds,
                     **out.meter.as_timings()},
        )

    # ---- safety turn ------------------------------------------------------------------
    def _safety_turn(self, out: "Draft", screening: Screening, region: str,
                     state: SessionState, text: str) -> None:
        ctx = {"turn": state.user_turns, "abuse_raised": state.abuse_raised,
               "self_harm_step": min(state.self_harm_step, 2)}
        sr = safety_reply(screening, region, ctx)
        if screening.category == "self_harm":
            state.self_harm_step += 1
        out.backend = "scripted"
        if sr is None:
            return
        out.parts.append(sr.text)
        out.trusted.append(sr.text)
        out.referral = True
        out.quick_exit = sr.quick_exit
        out.resources = [resource_dict(r) for r in sr.resources]
        out.safety_stop = sr.stop_coaching
        cards = self._search(out, text, k=1, stage="safety", include_user=False)
        out.cards.extend(h.card for h in cards)
        if not sr.stop_coaching and not has_question(sr.text):
            # e.g. a declined surveillance request: offer what builds trust instead
            hits = self._cards(out, text + " honest conversation",
                               ["communication", "boundaries"], state, k=3)
            if hits:
                card = hits[0]
                out.cards.append(card)
                q = compose.pick_question(card, state)
                out.parts.append(card.tip)
                if q:
                    out.parts.append(q)
                    state.asked.append(q)

    def _cited(self, out: "Draft", card_id: str) -> list[Card]:
        """The card a scripted answer rests on, when the index has it."""
        if out.guidance_missing:
            return []
        try:
            card = self._usable_index().card(card_id)
        except IndexUnavailable:
            out.guidance_missing = True
            return []
        return [card] if card is not None else []

    def store_description(self) -> str:
        """Where conversations are kept, in words (for 'who sees what I write?')."""
        if not getattr(self.store, "is_local", True):
            return "in the database of the service that runs this coach, not with us"
        from .config import coach_home

        return f"in a private file in your Trust Coach data folder ({coach_home()})"

    def _answer_turn(self, out: "Draft", state: SessionState, text: str,
                     reading: Reading, past: list[str]) -> bool:
        """Answer a question first, from the card that answers it (any stage, right role).

        Returns False when no card answers it, so the ordinary coaching turn takes over.
        """
        jump = requested_stage(text)  # "can we talk about boundaries?" names its topic
        stages = [jump] if jump in COACHING_STAGES else [*COACHING_STAGES]
        hits = self._cards(out, text, stages, state, k=4)
        if not hits:
            return False
        if reading.wants_words:  # asked for words: the best card that has some to offer
            hits = sorted(hits, key=lambda c: not (c.say or '"' in c.body))
        card = hits[0]
        seed = state.turn_no  # safety replies vary from one message to the next
        parts = []
        feelings = compose.detect_feelings(text)
        if feelings and len(text.split()) > 6:
            parts.append(compose.scripted_reflection(text, seed))
        parts.extend(answer_parts(card, reading, state.role, seed))
        question = compose.pick_question(card, state)
        if question:
            parts.append(question)
            state.asked.append(question)
        out.parts.append("\n\n".join(p for p in parts if p))
        out.cards.append(card)
        out.backend = "scripted"
        state.used_cards.append(card.id)
        item = compose.plan_item_from(card, state.role)
        if item and item not in state.plan_items:
            state.plan_items.append(item)
        if card.stage == "professional_help":
            out.referral = True
        else:
            self._maybe_refer(out, state, text, past)
        out.stage = card.stage
        advance(state, TurnPlan(card.stage, card.stage != state.stage, "coach"), text)
        return True

    def _check_in_turn(self, out: "Draft", screening: Screening, region: str,
                       state: SessionState, text: str) -> None:
        """Unsure whether this is a risk: ask directly and kindly, and nothing else."""
        out.backend = "scripted"
        out.parts.append(check_in_question(screening.category, region, state.turn_no))
        out.trusted.append(out.parts[-1])
        state.check_in = screening.category
        # the safety card for this kind of risk is what the question rests on
        out.cards.extend(h.card for h in self._search(
            out, f"{screening.category.replace('_', ' ')} {text}", k=1, stage="safety",
            include_user=False))

    # ---- after risk came up -----------------------------------------------------------
    def _follow_up_turn(self, out: "Draft", screening: Screening, region: str,
                        state: SessionState, text: str) -> None:
        """A calm, safety-first reply on a later turn of a conversation where risk came up."""
        words = _followup()
        low = text.lower()
        seed = state.turn_no  # safety replies vary from one message to the next
        out.backend = "scripted"
        out.referral = True
        if screening.category == "self_harm":
            # the crisis card is the guidance these replies rest on
            out.cards.extend(h.card for h in self._search(
                out, "thoughts of suicide or self-harm " + text, k=1, stage="safety",
                include_user=False))
            if any(w in low for w in words["safe_words"]):
                state.cleared.append("self_harm")  # coaching resumes from the next turn
                out.parts.append(words["self_harm"]["safe_ack"])
                out.trusted.append(out.parts[-1])
                out.resources = [resource_dict(r) for r in resources_for(region, "self_harm")[:2]]
                return
            if state.self_harm_step <= 2:
                # the next safety question in order (thoughts → plan → intent), with support
                wording = load_wording("self_harm")
                question = wording["questions"][min(state.self_harm_step, 2)]
                state.self_harm_step += 1
                services = resources_for(region, "self_harm")[:3]
                out.resources = [resource_dict(r) for r in services]
                after = " ".join(wording["after_question"].split()).format(
                    emergency=emergency_number(region))
                out.parts.extend([
                    pick(words["self_harm"]["opening"], seed) + " " + question,
                    after + "\n" + "\n".join(f"- {r.markdown()}" for r in services),
                ])
                out.trusted.extend(out.parts)
                return
        if screening.category != "abuse":
            self._safety_turn(out, Screening(screening.category, "concern", screening.reasons),
                              region, state, text)
            return
        w = words["abuse"]
        out.quick_exit = True
        parts = [compose.scripted_reflection(text, seed), pick(w["opening"], seed)]
        if any(k in low for k in words["couples_words"]):
            parts.append(" ".join(w["couples"].split()))
        cards = [h.card for h in self._search(out, text, k=2, stage="safety", include_user=False)]
        if cards:
            out.cards.append(cards[0])
            if cards[0].tip:
                parts.append(cards[0].tip)
        services = resources_for(region, "abuse")[:2]
        out.resources = [resource_dict(r) for r in services]
        parts.append(" ".join(w["reminder"].split()) + "\n" +
                     "\n".join(f"- {r.markdown()}" for r in services))
        parts.append(pick(w["questions"], seed))
        out.parts.extend(parts)
        out.trusted.extend(parts[1:])

    # ---- coaching turn ----------------------------------------------------------------
    def _coaching_turn(self, out: "Draft", state: SessionState, text: str,
                       past: list[str]) -> Iterator[Delta]:
        plan = plan_turn(state, text)
        out.stage = plan.stage
        p = compose.prompts()
        if plan.kind == "plan_confirm":
            self._plan_confirm(out, state, text)
            advance(state, plan, text)
            return
        if plan.kind == "plan":
            advance(state, plan, text)
            out.parts.append(compose.plan_reply(state))
            state.plan_offered = True
            out.plan_items = state.plan_items[:5]
            out.cards.extend(self._plan_sources(out, state))
            return
        intro = ""
        if plan.jumped:
            intro = p["jump_ack"].format(stage_name=compose.stage_name(plan.stage))
        elif plan.stage in COACHING_STAGES and plan.stage != state.stage:
            intro = p["stage_intros"].get(plan.stage, "")
        card = None
        question = ""
        # Short answers ("I feel stupid and angry") lean on what was said just before.
        query = text if plan.jumped or not past else f"{past[-1][-600:]} {text}"
        if plan.kind == "understand":
            question = self._understand_question(state, text)
            if state.turns_in_stage >= 1 or state.stage == "understand":
                hits = self._cards(out, query, ["understand", "root_causes"], state, k=2)
                card = hits[0] if hits else None
        else:
            hits = self._cards(out, query, [plan.stage], state, k=3)
            if not hits and not out.guidance_missing:
                hits = self._cards(out, query, list(COACHING_STAGES), state, k=3)
            card = hits[0] if hits else None
            question = compose.pick_question(card, state) if card else ""
        if card is None and not question and out.guidance_missing:
            # Degraded: a reflection and an open question still help while guidance is away.
            generic = p["general_questions"]
            question = generic[state.user_turns % len(generic)]
        if self.strategy == "full" and self.llm is not None and card is not None:
            reply = yield from self._full_reply(out, state, plan, text, card, question)
        else:
            if (plan.jumped and len(text.split()) <= 8 and "?" not in text
                    and not compose.detect_feelings(text)):
                reflection = ""  # a plain "let's talk about X": the bridge line answers it
                out.backend = "scripted"
            else:
                reflection = yield from self._reflection(out, text, state)
            if card is not None:  # (intro is empty in the understand stage)
                reply = compose.coaching_reply(reflection, card, question, intro=intro,
                                               turn=state.user_turns)
            else:
                reply = compose.understand_reply(reflection, question)
        out.parts.append(reply)
        if card is not None:
            out.cards.append(card)
            state.used_cards.append(card.id)
            item = compose.plan_item_from(card, state.role)
            if card.stage in COACHING_STAGES and item and item not in state.plan_items:
                state.plan_items.append(item)
            if card.stage == "professional_help":
                out.referral = True
        if question:
            state.asked.append(question)
        if plan.stage != "professional_help":
            self._maybe_refer(out, state, text, past)
        advance(state, plan, text)

    def _maybe_refer(self, out: "Draft", state: SessionState, text: str,
                     past: list[str]) -> None:
        """Add a referral to professional help when the conversation calls for one."""
        referral = should_refer([*past, text], "abuse" if state.abuse_raised else "none",
                                asked=False, region=out.region)
        if referral is None or out.referral or not referral_due(state):
            return
        out.parts.append(strip_questions(referral.text))
        out.trusted.append(out.parts[-1])
        # cite the guidance the referral rests on
        help_cards = self._cards(out, referral.text, ["professional_help"], state, k=1)
        out.cards.extend(c for c in help_cards if c not in out.cards)
        out.referral = True
        state.asked.append("__referral__")

    def _understand_question(self, state: SessionState, text: str) -> str:
        from .flow import detect_role

        qs = compose.prompts()["understand_questions"]
        known_role = state.role != "unknown" or detect_role(text)
        known = {"timeline": "when" in state.facts or "duration" in state.facts}
        for key in ("role", "timeline", "hope"):
            if key in state.understand_asked or (key == "role" and known_role) or known.get(key):
                continue
            state.understand_asked.append(key)
            if key == "role" and "event" in state.facts:
                return qs["role_only"]
            return qs[key]
        return ""

    def _search(self, out: "Draft", query: str, **kw: Any) -> list[Any]:
        """Search the guidance index; when it is unavailable, note it and return no hits."""
        if out.guidance_missing:
            return []
        index = self._usable_index()
        try:
            return index.search(query, **kw)
        except IndexUnavailable as exc:
            log.warning("guidance index unavailable: %s", exc)
            out.guidance_missing = True
            out.notice = add_notice(out.notice, compose.prompts()["guidance_unavailable_notice"])
            out.events.append(("fallback", ["guidance index unavailable"]))
            if self._reopen_index:
                self._index_retry_at = time.monotonic() + _INDEX_RETRY_S
                self.index = _NoIndex(str(exc), previous=index)
            return []

    def _usable_index(self) -> Any:
        """The index, reopened when it failed earlier and the retry delay has passed."""
        if not isinstance(self.index, _NoIndex) or time.monotonic() < self._index_retry_at:
            return self.index
        from .retrieval import get_index, reset_index_cache

        with self._locks_guard:
            if isinstance(self.index, _NoIndex):
                self.index.release()
                reset_index_cache()
                try:
                    self.index = get_index(build=False)
                    self.index.count()
                    log.info("guidance index available again")
                except IndexUnavailable as exc:
                    self.index = _NoIndex(str(exc))
                    self._index_retry_at = time.monotonic() + _INDEX_RETRY_S
        return self.index

    def _cards(self, out: "Draft", text: str, stages: list[str], state: SessionState,
               k: int = 3) -> list[Card]:
        query = text[-1500:]
        # The composer needs a card's tip and questions, which only curated cards have; a
        # strong model can use the person's own material too.
        mine = self.strategy == "full" and self.llm is not None
        hits = self._search(out, query, k=k + len(state.used_cards) + 4, stage=stages,
                            audience=state.audience, include_user=mine)
        # Guidance written for the other partner is never given (nor, while the role is not
        # known yet, guidance written for either one).
        cards = [h.card for h in hits if h.card.id not in state.used_cards
                 and (h.card.origin != "curated" or h.card.fits_role(state.role))]
        if not cards and state.role == "unknown" and set(stages) != set(COACHING_STAGES):
            # Nothing here fits everyone yet: a card from any stage that does, rather than one
            # that may have been written for the other partner.
            return self._cards(out, text, list(COACHING_STAGES), state, k + 8)[:k]
        if state.abuse_raised:
            cards = [c for c in cards if check_reply(
                f"{c.tip} {c.body}", RailContext(abuse_raised=True)).ok]
        return cards[:k]

    def _plan_sources(self, out: "Draft", state: SessionState) -> list[Card]:
        """The cards the plan's steps came from (cited under the plan)."""
        items = set(state.plan_items[:5])
        cited = []
        for card_id in dict.fromkeys(state.used_cards):
            card = self._cited(out, card_id)
            if card and compose.plan_item_from(card[0], state.role) in items:
                cited.extend(card)
        return cited

    def _plan_confirm(self, out: "Draft", state: SessionState, text: str) -> None:
        p = compose.prompts()["plan"]
        if is_agreement(text):
            state.plan_agreed = True
            out.parts.append(f"{p['agreed']}\n\n{compose.prompts()['closing_reminder']}")
            out.plan_agreed = True
        elif len(text.split()) >= 4 and "?" not in text and _PLAN_STEP.search(text):
            state.plan_items.append(text.strip().rstrip(".") + ".")  # their own words
            out.parts.append(compose.plan_reply(state))
        else:
            out.parts.append(p["revise"])
        out.plan_items = state.plan_items[:5]

    def _reflection(self, out: "Draft", text: str, state: SessionState) -> Iterator[Delta]:
        """A one-sentence reflection: from the LLM when it behaves, else from the composer."""
        if self.reflector is None:
            out.backend = "scripted"
            return compose.scripted_reflection(text, state.user_turns)
        t = time.perf_counter()
        result = yield from self.reflector.reflect(
            text, RailContext(abuse_raised=state.abuse_raised), turn=state.user_turns,
            callbacks=[out.meter])
        out.llm_seconds += time.perf_counter() - t
        if result.text:
            out.backend = self.backend_name
            out.shown = result.shown
            return result.text
        out.backend = "scripted"
        if result.violations:  # the model answered, but its words failed the rails
            out.events.append(("output_rail", result.violations))
        else:
            out.notice = add_notice(out.notice, compose.prompts()["fallback_notice"])
            out.events.append(("fallback", [result.error or "no usable reply"]))
        return compose.scripted_reflection(text, state.user_turns)

    def _full_reply(self, out: "Draft", state: SessionState, plan: TurnPlan, text: str,
                    card: Card, question: str) -> Iterator[Delta]:
        t = time.perf_counter()
        result = yield from self.reflector.full_reply(
            text, card, question, state, RailContext(abuse_raised=state.abuse_raised),
            callbacks=[out.meter])
        out.llm_seconds += time.perf_counter() - t
        if result.text:
            out.backend = self.backend_name
            out.shown = result.shown
            return result.text
        out.shown = result.shown
        if result.error:
            out.notice = add_notice(out.notice, compose.prompts()["fallback_notice"])
            out.events.append(("fallback", [result.error]))
        else:
            out.events.append(("output_rail", result.violations))
        out.backend = "scripted"
        reflection = compose.scripted_reflection(text, state.user_turns)
        return compose.coaching_reply(reflection, card, question, turn=state.user_turns)

    def _finalise(self, out: "Draft", session_id: str, turn_idx: int,
                  state: SessionState) -> str:
        """Join the parts, run the output rails on the whole reply, record events."""
        body = join_parts(out.parts)
        if out.plan_items is not None:
            self.store.set_plan(session_id, out.plan_items, agreed=out.plan_agreed)
            if out.plan_agreed:
                self._maybe_summarise(session_id, state)
        # Our own reviewed wording (cards, protocol and referral texts) is allowed as it is;
        # the rails judge what a model wrote around it.
        allowed = tuple(t for c in out.cards for t in (c.tip, c.body, *c.questions)) + tuple(
            out.trusted)
        verdict = check_reply(body, RailContext(abuse_raised=state.abuse_raised,
                                                allowed_text=allowed))
        if not verdict.ok and out.backend != "scripted":
            out.events.append(("output_rail", verdict.violations))
            body = verdict.cleaned or join_parts(out.parts[1:]) or body
        for kind, detail in out.events:
            self.store.record_safety_event(session_id, kind, turn_idx=turn_idx,
                                           detail={"violations": list(detail)})
        if out.notice:
            body = f"{body}\n\n{out.notice}"
        return body

    def _maybe_summarise(self, session_id: str, state: SessionState) -> None:
        session = self.store.get_session(session_id)
        if not session.history_opt_in:
            return
        topics = ", ".join(compose.stage_name(s) for s in state.visited if s in COACHING_STAGES)
        plan = "; ".join(state.plan_items[:5])
        self.store.save_summary(session_id, f"{topics or 'what happened'}. Your plan: {plan}")

    def close(self) -> None:
        if self.llm is not None:
            try:
                self.llm.close()
            except Exception:  # pragma: no cover - closing must never raise
                pass


class _NoIndex:
    """Stands in for a guidance index that cannot be used: no cards, and says why."""

    def __init__(self, reason: str, previous: Any = None) -> None:
        self.reason = reason
        self._previous = previous

    def search(self, *_args: Any, **_kw: Any) -> list[Any]:
        raise IndexUnavailable(self.reason)

    def card(self, _card_id: str) -> None:
        return None

    def all_cards(self, *_args: Any) -> list[Card]:
        return []

    def count(self, *_args: Any) -> int:
        raise IndexUnavailable(self.reason)

    def release(self) -> None:
        """Let go of the failed index's client so a rebuilt folder is opened afresh."""
        close = getattr(self._previous, "close", None)
        self._previous = None
        if close is not None:
            try:
                close()
            except Exception:  # pragma: no cover - releasing must never raise
                pass


# "I'd like to add a weekly walk", "I will text when I'm late": a step the person proposes.
_PLAN_STEP = re.compile(r"\b(i will|i'll|i want to|i'd like to|i would like to|i can|we will|"
                        r"we'll|we could|add|try|maybe)\b", re.I)

FOLLOW_UP = ("self_harm", "abuse", "harm_to_others", "child_safety", "medical_emergency")


def _followup() -> dict[str, Any]:
    return load_wording("followup")  # cached by the loader until the file changes


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


def referral_due(state: SessionState) -> bool:
    """Suggest professional help at most once every few turns."""
    return state.asked.count("__referral__") == 0 or state.user_turns % 4 == 0
