"""The coach: the one object the web app, the CLI and the evals call.

`Coach` holds the services a turn needs (the language model, the guidance index, the session
store) and serves one turn per session at a time. The turn itself is a pipeline in
`coach.turn`: read → route → respond → check → store. Nothing the person writes is lost (the
user turn is stored first), safety never waits on a model, and any model failure falls back to
the deterministic composer and says so.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterator

from . import compose
from .errors import CoachError, InputError
from .flow import SessionState
from .reflect import Reflector
from .safety.resources import normalise_region
from .settings import settings
from .turn import MAX_MESSAGE_CHARS, Delta, TurnResult, validate_message
from .turn.guidance import Guidance
from .turn.pipeline import AI_REMINDER_S, remember, run_turn

__all__ = ["Coach", "Delta", "TurnResult", "MAX_MESSAGE_CHARS", "validate_message",
           "AI_REMINDER_S", "remember"]

log = logging.getLogger("coach.engine")


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
        from .store import SessionStore

        self.store = store or SessionStore()
        self.guidance = Guidance(index)
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

    def topics(self, session_id: str) -> list[str]:
        """The stages (topics) this session has talked about, in the order it reached them."""
        return list(SessionState.from_dict(self.store.get_state(session_id)).visited)

    def spoken_notice(self, session_id: str) -> str:
        """The spoken AI notice for the first reply read aloud in a session ('' afterwards):
        voice mode says it is an AI, as the welcome does in writing."""
        with self._lock(session_id):
            state = SessionState.from_dict(self.store.get_state(session_id))
            if state.spoken_notice:
                return ""
            state.spoken_notice = True
            self._save_state(session_id, state)
        return " ".join(compose.prompts()["spoken_ai_notice"].split())

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

    @property
    def index(self) -> Any:
        """The guidance index (a stand-in that says why, while it is unavailable)."""
        return self.guidance.index

    def card(self, card_id: str) -> Any:
        """A guidance card by id (None when unknown or the index is unavailable)."""
        return self.guidance.card(card_id)

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

    def feedback_comment(self, session_id: str, comment: str, *, turn_idx: int) -> None:
        """The person's own words about a reply, kept with their feedback on this machine."""
        self.store.set_feedback_comment(session_id, turn_idx, comment)

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

    def respond(self, session_id: str, text: str,
                stop: threading.Event | None = None) -> Iterator[Delta | TurnResult]:
        """Stream the reply to one user message: Delta events, then the TurnResult. Set `stop`
        to end a streaming reply early (the model stops; the turn is stored as stopped)."""
        text = validate_message(text)
        with self._lock(session_id):
            yield from run_turn(self, session_id, text, stop)

    # ---- taking a message back ------------------------------------------------------------
    def undo(self, session_id: str) -> str:
        """Take back the person's last message and the reply to it; returns that message.

        The turns are kept in the store, marked superseded (their safety events and referral
        counts stay), and the session returns to where it was before the message: its state and
        its plan. Safety memory is never rolled back: that abuse came up, or how far the
        self-harm questions went, survives an undo, and screening still reads the message.
        """
        with self._lock(session_id):
            return self._take_back(session_id)

    def retry(self, session_id: str,
              stop: threading.Event | None = None) -> Iterator[Delta | TurnResult]:
        """A new reply to the last message (the old reply is kept, superseded)."""
        with self._lock(session_id):
            text = self._take_back(session_id)
            yield from run_turn(self, session_id, text, stop)

    def edit(self, session_id: str, text: str,
             stop: threading.Event | None = None) -> Iterator[Delta | TurnResult]:
        """Replace the last message with `text` and answer that instead."""
        text = validate_message(text)
        with self._lock(session_id):
            self._take_back(session_id)
            yield from run_turn(self, session_id, text, stop)

    def _take_back(self, session_id: str) -> str:
        turns = self.store.turns(session_id)
        last = next((t for t in reversed(turns) if t.role == "user"), None)
        if last is None:
            raise InputError("There is no message to take back yet.")
        if last.state_before is None:
            raise InputError("That message was sent with an older version of Trust Coach and "
                             "can't be taken back.")
        now = SessionState.from_dict(self.store.get_state(session_id))
        before = SessionState.from_dict(last.state_before)
        before.abuse_raised = before.abuse_raised or now.abuse_raised
        before.self_harm_step = max(before.self_harm_step, now.self_harm_step)
        before.turn_no = now.turn_no  # replies keep varying their wording
        before.ai_notice_at = now.ai_notice_at
        self.store.supersede(session_id, last.idx, before.to_dict())
        log.info("took back turn session=%s idx=%d", session_id, last.idx)
        return last.text

    def store_description(self) -> str:
        """Where conversations are kept, in words (for 'who sees what I write?')."""
        if not getattr(self.store, "is_local", True):
            return "in the database of the service that runs this coach, not with us"
        from .config import coach_home

        return f"in a private file in your Trust Coach data folder ({coach_home()})"

    def close(self) -> None:
        if self.llm is not None:
            try:
                self.llm.close()
            except Exception:  # pragma: no cover - closing must never raise
                pass
