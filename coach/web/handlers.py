"""What each button and box on the page does: per-browser glue between Gradio and the engine.

No coaching logic lives here: every reply comes from `Coach.respond`; this module only keeps
track of which session belongs to which browser (and login) and turns results into views.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..compose import prompts
from ..config import coach_home
from ..engine import Delta, TurnResult, validate_message
from ..errors import CoachError
from ..safety import resources as res
from ..settings import settings
from . import view

log = logging.getLogger("coach.web")
SLOW_MESSAGE = ("This is taking longer than usual. Your message is saved; the reply will "
                "appear here as soon as it is ready.")
EXPORT_KEEP_S = 3600.0
_DONE = object()
# What the chat shows between sending and the first words of the reply (a folded note with a
# spinner, which Gradio draws for metadata status "pending").
PENDING = {"role": "assistant", "content": "",
           "metadata": {"title": "Thinking about what you wrote…", "status": "pending"}}
# Services shown in the always-visible panel (the full list is in each crisis reply).
PANEL_CATEGORIES = ("self_harm", "abuse", "therapy")


class NotYours(CoachError):
    """A session id that this browser or login did not create or resume."""


@dataclass
class TurnView:
    """Everything a turn changes on the page; None means 'leave as it is'."""

    chat: list[dict[str, str]]
    state: dict[str, Any]
    stage: str | None = None
    plan: str | None = None
    help: str | None = None
    quick_exit: bool | None = None
    status: str | None = None
    textbox: str | None = None
    running: bool | None = None  # a reply is being written (the Stop button shows)
    help_open: bool = False      # open the "Get help now" panel (a crisis reply)
    plan_open: bool = False      # open "Your plan" (the plan was just offered)
    said: str | None = None      # the reply's text so far (for reading it aloud as it comes)
    said_final: bool = False     # `said` is the whole reply
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Each view is a snapshot: later pieces of the reply must not change one already sent.
        self.chat = list(self.chat)
        self.state = dict(self.state)


def new_state() -> dict[str, Any]:
    """The per-browser state: which session is open here and the last reply (for speech)."""
    return {"session": None, "reply": "", "region": None}


def service_dict(r: Any) -> dict[str, Any]:
    """A Resource as the plain dict the views take."""
    return {"name": r.name, "phone": r.phone, "text": r.text, "url": r.url, "hours": r.hours}


class WebSessions:
    """Serves the page for one Coach; safe for many browsers at once (no shared 'current')."""

    def __init__(self, coach: Any, login_required: bool = False,
                 owners: Any = None, region: str | None = None) -> None:
        self.coach = coach
        self.login_required = login_required
        self.owners = owners or coach.owners()
        self.region = res.normalise_region(region or getattr(coach, "region", None))
        self.export_dir = _private_dir("web") / "exports"
        self.export_dir.mkdir(mode=0o700, exist_ok=True)
        self._prune_exports()
        self._running: dict[str, threading.Event] = {}  # session → its reply's stop switch
        self._running_guard = threading.Lock()

    # ---- who may see what ---------------------------------------------------------------
    @staticmethod
    def user_of(request: Any) -> str:
        """The login name of a request ('' when the app runs without logins)."""
        return str(getattr(request, "username", None) or "") if request is not None else ""

    def may_use(self, session_id: str, user: str) -> bool:
        """Whether this login may open the session (everyone may when there are no logins)."""
        if not self.login_required:
            return True
        return bool(user) and self.owners.owner(session_id) == user

    def list_choices(self, user: str) -> list[tuple[str, str]]:
        """Saved sessions this login may resume, newest first, as (label, id)."""
        infos = self.coach.list_sessions(limit=200)
        if self.login_required:
            mine = self.owners.owned_by(user)
            infos = [i for i in infos if i.id in mine]
        return [(view.session_label(i), i.id) for i in infos]

    def _check(self, state: dict[str, Any], user: str) -> str | None:
        sid = state.get("session")
        if sid and not self.may_use(sid, user):
            raise NotYours("That session belongs to another login.")
        return sid

    # ---- panels ---------------------------------------------------------------------------
    def region_choices(self) -> list[tuple[str, str]]:
        """(label, code) for the region dropdown, international last."""
        codes = [c for c in res.regions() if c != res.FALLBACK_REGION]
        out = [(res.region_name(c), c) for c in codes]
        return out + [("Anywhere else (international)", res.FALLBACK_REGION)]

    def help_markdown(self, region: str | None, urgent: list[dict[str, Any]] | None = None,
                      level: str = "urgent") -> str:
        """The 'Get help now' panel for a region, with a safety reply's services first."""
        code = res.normalise_region(region or self.region)
        seen: dict[str, dict[str, Any]] = {}
        for cat in PANEL_CATEGORIES:
            for r in res.resources_for(code, cat)[:2]:
                seen.setdefault(r.name, service_dict(r))
        title = ("your country" if code == res.FALLBACK_REGION else res.region_name(code))
        heading = "Please reach out now" if level == "urgent" else "Support that may help"
        return view.help_panel(title, res.emergency_number(code), seen.values(), urgent or [],
                               heading=heading)

    def feedback(self, state: dict[str, Any], user: str, reply_text: str, value: str) -> int:
        """Keep a like, dislike or reason for one of this session's replies."""
        sid = state.get("session")
        if not sid:
            raise CoachError("There is no conversation here to give feedback on yet.")
        if not self.may_use(sid, user):
            raise NotYours("That session belongs to another login.")
        return self.coach.feedback(sid, value, reply_text=reply_text)

    def feedback_comment(self, state: dict[str, Any], user: str, text: Any) -> None:
        """Keep the person's words with their last like or dislike in this browser."""
        sid, idx = state.get("session"), state.get("feedback_turn")
        if not sid or idx is None:
            raise CoachError("Give a thumbs up or down on a reply first, then add a comment.")
        if not self.may_use(sid, user):
            raise NotYours("That session belongs to another login.")
        self.coach.feedback_comment(sid, str(text or ""), turn_idx=int(idx))

    def protocol_markdown(self) -> str:
        """The published crisis protocol, with this installation's anonymous referral count."""
        from ..config import data_dir

        text = (data_dir("prompts") / "safety_protocol.md").read_text(encoding="utf-8")
        text = text.split("\n", 1)[1] if text.startswith("# ") else text
        try:
            total = sum(r["count"] for r in self.coach.referral_counts())
        except Exception:  # noqa: BLE001 - the protocol is shown even if the count is not
            return text
        return (text + f"\n\n**On this installation:** {total} crisis referral"
                f"{'' if total == 1 else 's'} so far (counts only, no identifiers).")

    def status(self, used: str | None = None, notice: str = "") -> str:
        """The line that says what writes the replies."""
        problem = getattr(self.coach, "backend_problem", None)
        if problem and not notice:
            notice = problem
        return view.status_line(self.coach.backend_name, used, notice)

    def _names(self) -> dict[str, str]:
        return dict(prompts().get("stage_names", {}))

    def stage_markdown(self, stage: str | None, session_id: str | None = None) -> str:
        """Progress as the topics talked about so far (the stages are a map, not a track)."""
        visited = self.coach.topics(session_id) if session_id else []
        return view.topics_markdown(visited, stage, self._names())

    def chat_history(self, session_id: str) -> list[dict[str, Any]]:
        """The conversation as the chat shows it: each reply with its guidance under it."""
        return view.history_messages(self.coach.history(session_id), self.coach.card)

    # ---- sessions -------------------------------------------------------------------------
    def _ensure_session(self, state: dict[str, Any], user: str, region: str | None,
                        remember: bool, chat: list[dict[str, str]]) -> str:
        sid = self._check(state, user)
        if sid:
            return sid
        sid, welcome = self.coach.start_session(region=region or self.region,
                                                history_opt_in=bool(remember))
        self.owners.set(sid, user)
        state["session"] = sid
        chat.insert(0, {"role": "assistant", "content": welcome})
        return sid

    def resume(self, session_id: str | None, state: dict[str, Any], user: str) -> TurnView:
        """Open a saved session in this browser."""
        if not session_id:
            raise CoachError("Choose a saved session from the list first.")
        if not self.may_use(session_id, user):
            raise NotYours("That session belongs to another login.")
        session = self.coach.session(session_id)
        turns = self.coach.history(session_id)
        state = {**new_state(), "session": session_id, "region": session.region}
        plan = self.coach.plan(session_id)
        return TurnView(
            chat=view.history_messages(turns, self.coach.card), state=state,
            stage=self.stage_markdown(session.stage, session_id),
            plan=view.plan_markdown(list(plan.items) if plan else [], bool(plan and plan.agreed)),
            help=self.help_markdown(session.region), quick_exit=False, status=self.status())

    def new_session(self, region: str | None) -> TurnView:
        """Forget the open session in this browser (it stays saved) and show a clean page."""
        return TurnView(chat=[], state={**new_state(), "region": region},
                        stage=self.stage_markdown("welcome"),
                        plan=view.plan_markdown([]), help=self.help_markdown(region),
                        quick_exit=False, status=self.status())

    def delete(self, state: dict[str, Any], user: str) -> TurnView:
        """Delete the open session and everything stored with it."""
        sid = self._check(state, user)
        if not sid:
            raise CoachError("There is no saved session open here to delete.")
        self.coach.delete(sid)
        self.owners.forget(sid)
        for path in self.export_dir.glob(f"trust-coach-{sid}.*"):
            path.unlink(missing_ok=True)
        return self.new_session(state.get("region"))

    def export(self, state: dict[str, Any], user: str, fmt: str) -> str:
        """Write the open session to a private file and return its path for download."""
        sid = self._check(state, user)
        if not sid:
            raise CoachError("There is nothing to export yet: start a conversation first.")
        fmt = "json" if str(fmt).lower().startswith("j") else "md"
        self._prune_exports()
        text = self.coach.export(sid, fmt)
        path = self.export_dir / f"trust-coach-{sid}.{fmt}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return str(path)

    def _prune_exports(self, max_age_s: float = EXPORT_KEEP_S) -> None:
        # Exports are copies of private conversations: keep them only long enough to download.
        cutoff = time.time() - max_age_s
        for path in self.export_dir.glob("trust-coach-*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass

    def checkin(self, rating: Any, state: dict[str, Any], user: str, region: str | None,
                remember: bool, chat: list[dict[str, str]]) -> tuple[list, dict[str, Any]]:
        """Store a 0-10 check-in for the open session (starting one if needed)."""
        try:
            value = int(round(float(rating)))
        except (TypeError, ValueError):
            raise CoachError("The check-in is a number from 0 to 10.") from None
        if not 0 <= value <= 10:
            raise CoachError("The check-in is a number from 0 to 10.")
        chat = list(chat or [])
        state = dict(state or new_state())
        sid = self._ensure_session(state, user, region, remember, chat)
        self.coach.add_checkin(sid, value)
        return chat, state

    def checkin_rows(self, user: str) -> list[dict[str, Any]]:
        """Ratings across this login's sessions, oldest first."""
        rows = self.coach.checkins(limit=100)
        if self.login_required:
            mine = self.owners.owned_by(user)
            rows = [c for c in rows if c.session_id in mine]
        return view.checkin_rows(rows)

    # ---- a turn ---------------------------------------------------------------------------
    def turn(self, text: Any, chat: list[dict[str, str]] | None, state: dict[str, Any] | None,
             user: str, region: str | None = None, remember: bool = False) -> Iterator[TurnView]:
        """Send one message; yield views as the reply streams in, the final one last."""
        chat = list(chat or [])
        state = dict(state or new_state())
        try:
            text = validate_message(text)
        except CoachError as exc:
            # Nothing is lost: the text stays in the box.
            yield TurnView(chat=chat, state=state, warnings=[str(exc)])
            return
        sid = self._ensure_session(state, user, region, remember, chat)
        chat.append({"role": "user", "content": text})
        yield from self._stream(sid, chat, state,
                                lambda stop: self.coach.respond(sid, text, stop), textbox="")

    # ---- stop, undo, retry, edit ----------------------------------------------------------
    def stop(self, state: dict[str, Any] | None, user: str) -> bool:
        """Stop the reply being written for this browser's session (True if one was)."""
        sid = self._check(dict(state or {}), user)
        with self._running_guard:
            switch = self._running.get(sid or "")
        if switch is None:
            return False
        switch.set()
        return True

    def undo(self, state: dict[str, Any] | None, user: str) -> TurnView:
        """Take back the last message and its reply; the message goes back into the box."""
        state = dict(state or new_state())
        sid = self._check(state, user)
        if not sid:
            raise CoachError("There is nothing to undo yet.")
        text = self.coach.undo(sid)
        return self._after_take_back(sid, state, self.chat_history(sid), textbox=text)

    def retry(self, state: dict[str, Any] | None, user: str) -> Iterator[TurnView]:
        """A new reply to the last message."""
        state = dict(state or new_state())
        sid = self._check(state, user)
        if not sid:
            raise CoachError("There is nothing to retry yet.")
        chat = self.chat_history(sid)
        while chat and chat[-1]["role"] == "assistant":  # the reply (and its guidance) goes
            chat.pop()
        yield from self._stream(sid, chat, state, lambda stop: self.coach.retry(sid, stop))

    def edit(self, state: dict[str, Any] | None, user: str, index: Any, text: Any,
             chat: list[dict[str, Any]] | None) -> Iterator[TurnView]:
        """Replace the person's last message with the edited text and answer that."""
        state = dict(state or new_state())
        sid = self._check(state, user)
        if not sid:
            raise CoachError("There is nothing to edit yet.")
        shown = list(chat or [])
        users = [i for i, m in enumerate(shown) if m.get("role") == "user"]
        position = index[0] if isinstance(index, (list, tuple)) else index
        if not users or position != users[-1]:
            yield TurnView(chat=self.chat_history(sid), state=state,
                           warnings=["Only your last message can be edited."])
            return
        try:
            text = validate_message(_text_of(text))
        except CoachError as exc:
            yield TurnView(chat=self.chat_history(sid), state=state, warnings=[str(exc)])
            return
        kept = self.chat_history(sid)
        last_user = max(i for i, m in enumerate(kept) if m["role"] == "user")
        kept = [*kept[:last_user], {"role": "user", "content": text}]
        yield from self._stream(sid, kept, state, lambda stop: self.coach.edit(sid, text, stop))

    def _after_take_back(self, sid: str, state: dict[str, Any], chat: list[dict[str, Any]],
                         textbox: str | None = None) -> TurnView:
        session = self.coach.session(sid)
        plan = self.coach.plan(sid)
        last = next((m for m in reversed(chat) if m["role"] == "assistant"
                     and not m.get("metadata")), None)
        state["reply"] = last["content"] if last else ""
        return TurnView(chat=chat, state=state, textbox=textbox,
                        stage=self.stage_markdown(session.stage, sid),
                        plan=view.plan_markdown(list(plan.items) if plan else [],
                                                bool(plan and plan.agreed)),
                        status=self.status())

    # ---- streaming a reply ----------------------------------------------------------------
    def _stream(self, sid: str, chat: list[dict[str, Any]], state: dict[str, Any],
                start: Any, textbox: str | None = None) -> Iterator[TurnView]:
        """Run one engine turn for this session, yielding views as the reply streams in."""
        stop = threading.Event()
        with self._running_guard:
            self._running[sid] = stop
        try:
            chat.append(dict(PENDING))  # a spinner while the coach thinks
            yield TurnView(chat=chat, state=state, textbox=textbox, running=True)
            shown = ""
            started = time.monotonic()
            warned = False
            for event in _watched(start(stop)):
                if event is _TICK:
                    if not warned and time.monotonic() - started > settings().web_watchdog_s:
                        warned = True
                        yield TurnView(chat=chat, state=state, status=f"⏳ {SLOW_MESSAGE}")
                    continue
                if isinstance(event, BaseException):
                    chat.pop()
                    msg = str(event) if isinstance(event, CoachError) else (
                        "Something went wrong while answering. Your message is saved; please "
                        "try again in a moment.")
                    if not isinstance(event, CoachError):
                        log.error("turn failed: %s", type(event).__name__)
                    yield TurnView(chat=chat, state=state, warnings=[msg], status=self.status(),
                                   running=False)
                    return
                if isinstance(event, Delta):
                    shown += event.text
                    chat[-1] = {"role": "assistant", "content": shown}
                    yield TurnView(chat=chat, state=state, said=shown)
                elif isinstance(event, TurnResult):
                    yield self._final(event, chat, state)
        finally:
            with self._running_guard:
                if self._running.get(sid) is stop:
                    del self._running[sid]

    def _final(self, result: TurnResult, chat: list[dict[str, str]],
               state: dict[str, Any]) -> TurnView:
        chat[-1] = {"role": "assistant", "content": result.reply}
        under = view.sources_message(result.sources, self.coach.card)
        if under:
            chat.append(under)  # the guidance this reply drew on, folded under it
        state["reply"] = result.reply
        warnings = []
        fell_back = result.backend != self.coach.backend_name
        stopped = result.route.endswith("(stopped)")  # the person's own choice: no warning
        if result.notice and not stopped:
            warnings.append(result.notice.strip("() "))
        urgent = result.resources if result.referral and result.resources else None
        session = self.coach.session(result.session)
        return TurnView(
            chat=chat, state=state, stage=self.stage_markdown(result.stage, result.session),
            said=result.reply, said_final=True, running=False, help_open=bool(urgent), plan_open=result.route == "plan",
            plan=view.plan_markdown(result.plan, result.plan_agreed),
            help=self.help_markdown(session.region, urgent, result.safety.get("level", "")),
            quick_exit=True if result.quick_exit else None,
            status=self.status(result.backend if fell_back else None,
                               "" if stopped else result.notice),
            warnings=warnings)

    def transcribe(self, audio: Any) -> str:
        """Speech to text for one recording or upload (AudioError has a plain message)."""
        from ..voice import transcribe

        return transcribe(audio).text

    def live_speech(self) -> "LiveSpeech":
        """Reads one reply aloud while it streams (see LiveSpeech)."""
        return LiveSpeech(self)

    def speak(self, text: str, state: dict[str, Any] | None = None) -> Iterator[tuple[int, Any]]:
        """The reply as audio, one sentence at a time; the first reply read aloud in a session
        starts by saying that this is an AI."""
        from ..voice import synthesize_stream

        if not text or not text.strip():
            return
        sid = (state or {}).get("session")
        notice = self.coach.spoken_notice(sid) if sid else ""
        yield from synthesize_stream(f"{notice} {text}" if notice else text)


_TICK = object()
# The end of a sentence: what can be read aloud before the rest of the reply exists.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")


class LiveSpeech:
    """Reads a reply aloud as it is written: each sentence as soon as it is complete (and
    checked: only text the page shows is read), the rest when the reply ends. The first reply
    read aloud in a session starts by saying that this is an AI."""

    def __init__(self, web: "WebSessions") -> None:
        self.web = web
        self.done = 0  # characters of the reply already read aloud
        self.told = False

    def chunks(self, view: TurnView) -> Iterator[tuple[int, Any]]:
        """Audio for what `view` adds to the reply (nothing when no sentence is complete)."""
        from ..voice import synthesize_stream

        text = view.said
        if text is None or len(text) <= self.done:
            return
        new = text[self.done:]
        if not view.said_final:
            ends = [m.end() for m in _SENTENCE_END.finditer(new)]
            if not ends:
                return
            new = new[:ends[-1]]
        self.done += len(new)
        if not new.strip():
            return
        if not self.told:
            self.told = True
            sid = view.state.get("session")
            notice = self.web.coach.spoken_notice(sid) if sid else ""
            new = f"{notice} {new}" if notice else new
        try:
            yield from synthesize_stream(new)
        except CoachError as exc:  # e.g. a piece with no words in it: nothing to say
            log.info("not read aloud: %s", exc)


def _text_of(value: Any) -> str:
    """The text of a chat message value (a string, or Gradio's list of parts)."""
    if isinstance(value, dict):
        value = value.get("text") or value.get("content") or value.get("value") or ""
    if isinstance(value, list):
        return " ".join(_text_of(v) for v in value)
    return str(value or "")


def _watched(events: Iterator[Any], tick_s: float = 1.0) -> Iterator[Any]:
    """Run events in a thread; yield each event, _TICK while waiting, and exceptions as values."""
    q: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            for ev in events:
                q.put(ev)
        except BaseException as exc:  # handed to the page as a plain message
            q.put(exc)
        finally:
            q.put(_DONE)

    # The turn finishes (and is stored) even if the browser goes away mid-reply.
    threading.Thread(target=work, name="coach-turn", daemon=True).start()
    while True:
        try:
            ev = q.get(timeout=tick_s)
        except queue.Empty:
            yield _TICK
            continue
        if ev is _DONE:
            return
        yield ev


def _private_dir(name: str) -> Path:
    path = coach_home() / name
    path.mkdir(mode=0o700, exist_ok=True)
    return path
