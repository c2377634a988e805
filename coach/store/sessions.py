"""The session store: every conversation kept on the user's machine, resumable, exportable, deletable.

Usage (the engine, the CLI and the web app all go through this one class)::

    store = SessionStore()                      # COACH_DB_URL, else COACH_HOME/coach.db
    s = store.create_session(title="", role="hurt_partner", region="uk", history_opt_in=False)
    t = store.add_user_turn(s.id, text, stage="understand", safety=screening)
    #   ^ committed (and fsynced on SQLite) before it returns: call it BEFORE the model, so a
    #     crash while the model runs never loses what the person wrote. The turn is 'pending'
    #     until a reply is stored; resume can see the unanswered message and answer it.
    store.add_assistant_turn(s.id, reply, stage="understand", sources=[...], safety=verdict,
                             backend="local")  # also marks pending user turns 'done'
    store.set_turn_status(s.id, t.idx, "failed")  # if the model failed instead
    store.get_session(s.id); store.turns(s.id)    # resume
    store.set_plan(s.id, ["..."], agreed=True); store.get_plan(s.id)
    store.record_safety_event(s.id, "screening", category="abuse", level="concern", turn_idx=0)
    store.add_checkin(s.id, 6); store.checkins(limit=30)       # 0-10, oldest first
    store.save_summary(s.id, "..."); store.latest_summary()    # only opted-in sessions
    store.set_state(s.id, {...}); store.get_state(s.id)        # the coaching flow state
    store.export(s.id, "md" | "json"); store.delete_session(s.id)
    store.integrity_check(); store.close()

Unknown ids raise SessionNotFound (a CoachError with a one-line message). Methods are safe to
call from several threads at once: each call takes its own pooled connection and transaction.
Text is stored as given; the only changes are lone UTF-16 surrogates (they cannot be encoded)
and, on PostgreSQL only, NUL characters (it cannot store them): both become U+FFFD.
"""

from __future__ import annotations

import dataclasses
import numbers
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError

from ..errors import CoachError, InputError
from .db import StoreError, is_sqlite, make_engine, purge_wal, read_tx, write_tx
from .migrations import TABLES, migrate

ROLES = ("hurt_partner", "partner_who_broke_trust", "own_insecurity", "unknown")
TURN_ROLES = ("user", "assistant")
TURN_STATUSES = ("pending", "done", "failed")
EVENT_KINDS = ("screening", "output_rail", "fallback")
SESSION_FIELDS = ("title", "role", "region", "stage", "history_opt_in", "backend")
# Tables that hold rows derived from one session (all keyed by session_id).
CHILD_TABLES = ("turns", "plans", "safety_events", "checkins", "summaries", "session_state",
                "session_owners")

_sessions = TABLES["sessions"]
_turns = TABLES["turns"]
_plans = TABLES["plans"]
_events = TABLES["safety_events"]
_checkins = TABLES["checkins"]
_summaries = TABLES["summaries"]
_state = TABLES["session_state"]
_owners = TABLES["session_owners"]
_referrals = TABLES["referral_counts"]
_feedback = TABLES["feedback"]
FEEDBACK_MAX = 80
COMMENT_MAX = 1000  # characters of a feedback comment


class SessionNotFound(CoachError):
    """No saved session has the given id."""

    def __init__(self, session_id: str) -> None:
        shown = str(session_id)[:40].encode("ascii", "replace").decode()
        super().__init__(
            f"No saved session with id {shown!r}; `coach sessions list` shows the saved ones."
        )
        self.session_id = session_id


@dataclass(frozen=True)
class Session:
    """One conversation's settings (its turns are read separately)."""

    id: str
    created_at: datetime
    updated_at: datetime
    title: str
    role: str
    region: str | None
    stage: str | None
    history_opt_in: bool
    backend: str | None


@dataclass(frozen=True)
class SessionInfo:
    """A line in the list of saved sessions."""

    id: str
    created_at: datetime
    updated_at: datetime
    title: str
    stage: str | None
    turns: int


@dataclass(frozen=True)
class Turn:
    """One message, by the person ('user') or the coach ('assistant')."""

    session_id: str
    idx: int
    role: str
    text: str
    stage: str | None
    sources: Any
    safety: Any
    backend: str | None
    created_at: datetime
    status: str
    superseded: bool = False  # taken back (undo, retry, edit): kept, but not in the conversation
    state_before: Any = None  # user turns: the session state before this message


@dataclass(frozen=True)
class Plan:
    """The small steps a person chose, and whether they agreed to them."""

    items: list
    agreed: bool
    updated_at: datetime


@dataclass(frozen=True)
class Checkin:
    """A 0-10 rating of how things feel, for the progress chart."""

    session_id: str
    rating: int
    created_at: datetime


@dataclass(frozen=True)
class SafetyEvent:
    """A safety check that fired during a session."""

    session_id: str
    turn_idx: int | None
    kind: str
    category: str
    level: str
    detail: Any
    created_at: datetime


@dataclass(frozen=True)
class Snapshot:
    """Everything kept for one session, read in one transaction (what exports are made of)."""

    session: Session
    turns: list[Turn]
    plan: Plan | None
    checkins: list[Checkin] = field(default_factory=list)
    safety_events: list[SafetyEvent] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    feedback: dict[int, str] = field(default_factory=dict)  # turn idx -> like/dislike/reason
    feedback_comments: dict[int, str] = field(default_factory=dict)  # turn idx -> their words


def new_session_id() -> str:
    """A random, URL-safe, unguessable id (144 bits, 24 characters)."""
    return secrets.token_urlsafe(18)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime) -> datetime:
    # SQLite hands timestamps back without a zone; we only ever store UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


class SessionStore:
    """Private, durable storage of sessions, turns, plans, check-ins and safety events."""

    def __init__(self, url: str | None = None) -> None:
        self._engine: Engine = make_engine(url)
        self._pg = self._engine.dialect.name == "postgresql"
        try:
            migrate(self._engine)
        except BaseException:
            self._engine.dispose()
            raise

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Release every database connection (the store cannot be used afterwards)."""
        self._engine.dispose()

    def __enter__(self) -> "SessionStore":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and maintenance tools)."""
        return self._engine

    def integrity_check(self) -> bool:
        """True when the database is sound (SQLite integrity + foreign keys; else reachable)."""
        try:
            with read_tx(self._engine) as conn:
                if is_sqlite(self._engine):
                    rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
                    orphans = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    return rows == ["ok"] and not orphans
                return conn.execute(sql_text("SELECT 1")).scalar() == 1
        except StoreError:
            return False  # too damaged (or unreachable) even to be checked

    # -- sessions ------------------------------------------------------------------------
    def create_session(self, **fields: Any) -> Session:
        """Start a new session; fields: title, role, region, stage, history_opt_in, backend."""
        values = self._session_values(fields)
        now = _now()
        row = {
            "title": "", "role": "unknown", "region": None, "stage": None,
            "history_opt_in": False, "backend": None,
            **values, "id": new_session_id(), "created_at": now, "updated_at": now,
        }
        with write_tx(self._engine) as conn:
            conn.execute(_sessions.insert().values(**row))
        return Session(**row)

    def get_session(self, session_id: str) -> Session:
        """The session with this id, or SessionNotFound."""
        with read_tx(self._engine) as conn:
            return self._get_session(conn, session_id)

    def list_sessions(self, limit: int = 50) -> list[SessionInfo]:
        """The most recently active sessions first, with their number of turns."""
        count = (
            select(func.count()).select_from(_turns)
            .where(_turns.c.session_id == _sessions.c.id, _turns.c.superseded.is_(False))
            .scalar_subquery()
        )
        query = (
            select(_sessions.c.id, _sessions.c.created_at, _sessions.c.updated_at,
                   _sessions.c.title, _sessions.c.stage, count.label("turns"))
            .order_by(_sessions.c.updated_at.desc(), _sessions.c.id)
            .limit(max(0, int(limit)))
        )
        with read_tx(self._engine) as conn:
            return [
                SessionInfo(id=r.id, created_at=_utc(r.created_at), updated_at=_utc(r.updated_at),
                            title=r.title, stage=r.stage, turns=int(r.turns))
                for r in conn.execute(query)
            ]

    def update_session(self, session_id: str, **fields: Any) -> Session:
        """Change some of a session's fields (same names as create_session); returns it."""
        values = self._session_values(fields)
        with write_tx(self._engine) as conn:
            self._touch(conn, session_id, **values)
            return self._get_session(conn, session_id)

    def delete_session(self, session_id: str) -> None:
        """Remove the session and everything derived from it, in one transaction."""
        with write_tx(self._engine) as conn:
            self._get_session(conn, session_id)
            # Explicit deletes as well as ON DELETE CASCADE: nothing may survive even on a
            # database opened without foreign-key enforcement.
            for name in CHILD_TABLES:
                table = TABLES[name]
                conn.execute(delete(table).where(table.c.session_id == session_id))
            conn.execute(delete(_sessions).where(_sessions.c.id == session_id))
        purge_wal(self._engine)

    # -- turns ---------------------------------------------------------------------------
    def add_user_turn(self, session_id: str, text: str, stage: str | None = None,
                      safety: Any = None, state_before: Any = None) -> Turn:
        """Store what the person wrote, durably, as 'pending'. Call BEFORE the model runs.
        `state_before` (the session state before this message) lets it be taken back."""
        return self._add_turn(session_id, "user", text, stage, None, safety, None, "pending",
                              state_before)

    def add_assistant_turn(self, session_id: str, text: str, stage: str | None = None,
                           sources: Any = None, safety: Any = None,
                           backend: str | None = None) -> Turn:
        """Store the coach's reply; pending user turns become 'done'; stage/backend are kept."""
        return self._add_turn(session_id, "assistant", text, stage, sources, safety, backend,
                              "done")

    def set_turn_status(self, session_id: str, idx: int, status: str) -> None:
        """Mark a turn 'pending', 'done' or 'failed' (e.g. the model could not answer)."""
        if status not in TURN_STATUSES:
            raise ValueError(f"turn status must be one of {TURN_STATUSES}, not {status!r}")
        with write_tx(self._engine) as conn:
            self._touch(conn, session_id)
            done = conn.execute(
                update(_turns).where(_turns.c.session_id == session_id, _turns.c.idx == idx)
                .values(status=status)
            )
            if done.rowcount == 0:
                raise InputError(f"This session has no turn number {idx}.")

    def turns(self, session_id: str, include_superseded: bool = False) -> list[Turn]:
        """The conversation's turns in order (SessionNotFound if it does not exist); turns taken
        back by undo, retry or edit only with include_superseded."""
        with read_tx(self._engine) as conn:
            self._get_session(conn, session_id)
            return self._turns(conn, session_id, include_superseded)

    def supersede(self, session_id: str, from_idx: int, state: dict[str, Any]) -> list[Turn]:
        """Take back the turns from `from_idx` on (undo, retry, edit), in one transaction: they
        are kept, marked superseded; the session state becomes `state` and the plan what that
        state had offered. Returns the turns taken back."""
        with write_tx(self._engine) as conn:
            self._touch(conn, session_id)
            gone = [t for t in self._turns(conn, session_id) if t.idx >= from_idx]
            conn.execute(update(_turns).where(_turns.c.session_id == session_id,
                                              _turns.c.idx >= from_idx)
                         .values(superseded=True))
            conn.execute(delete(_state).where(_state.c.session_id == session_id))
            conn.execute(_state.insert().values(session_id=session_id, state=self._json(state),
                                                updated_at=_now()))
            conn.execute(delete(_plans).where(_plans.c.session_id == session_id))
            if state.get("plan_offered"):
                conn.execute(_plans.insert().values(
                    session_id=session_id, items=self._json(list(state.get("plan_items", []))[:5]),
                    agreed=bool(state.get("plan_agreed")), updated_at=_now()))
        return gone

    @property
    def is_local(self) -> bool:
        """True when sessions live in a SQLite file on this machine (not a shared server)."""
        return is_sqlite(self._engine)

    def recent_user_texts(self, session_id: str, limit: int, role: str = "user",
                          include_superseded: bool = False) -> list[str]:
        """The last `limit` messages the person (or, with role="assistant", the coach) wrote,
        oldest first (bounded work per turn); taken-back ones only with include_superseded."""
        query = select(_turns.c.text).where(_turns.c.session_id == session_id,
                                            _turns.c.role == role)
        if not include_superseded:
            query = query.where(_turns.c.superseded.is_(False))
        query = query.order_by(_turns.c.idx.desc()).limit(max(0, int(limit)))
        with read_tx(self._engine) as conn:
            self._get_session(conn, session_id)
            return list(reversed(conn.execute(query).scalars().all()))

    # -- plan, safety, check-ins, summaries -------------------------------------------------
    def set_plan(self, session_id: str, items: list, agreed: bool = False) -> Plan:
        """Replace the session's plan (a list of steps, strings or dicts)."""
        if not isinstance(items, (list, tuple)):
            raise ValueError("plan items must be a list")
        plan = Plan(items=self._json(list(items)), agreed=bool(agreed), updated_at=_now())
        with write_tx(self._engine) as conn:
            self._touch(conn, session_id)
            conn.execute(delete(_plans).where(_plans.c.session_id == session_id))
            conn.execute(_plans.insert().values(session_id=session_id, items=plan.items,
                                                agreed=plan.agreed, updated_at=plan.updated_at))
        return plan

    def get_plan(self, session_id: str) -> Plan | None:
        """The session's plan, or None if none was made yet."""
        with read_tx(self._engine) as conn:
            self._get_session(conn, session_id)
            return self._plan(conn, session_id)

    def record_safety_event(self, session_id: str, kind: str, category: str = "none",
                            level: str = "none", detail: Any = None,
                            turn_idx: int | None = None) -> SafetyEvent:
        """Note that a safety check fired (kind: screening, output_rail or fallback)."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"safety event kind must be one of {EVENT_KINDS}, not {kind!r}")
        event = SafetyEvent(session_id=session_id, turn_idx=turn_idx, kind=kind,
                            category=str(category), level=str(level),
                            detail=self._json(detail), created_at=_now())
        with write_tx(self._engine) as conn:
            self._touch(conn, session_id)
            conn.execute(_events.insert().values(**dataclasses.asdict(event)))
        return event

    def safety_events(self, session_id: str) -> list[SafetyEvent]:
        """The session's safety events, oldest first."""
        with read_tx(self._engine) as conn:
            self._get_session(conn, session_id)
            return self._events(conn, session_id)

    def count_referral(self, category: str, level: str, when: datetime | None = None) -> None:
        """Add one crisis referral to this month's anonymous count (no session, no text)."""
        month = (when or _now()).strftime("%Y-%m")
        key = (_referrals.c.month == month) & (_referrals.c.category == str(category)) & (
            _referrals.c.level == str(level))
        for _ in range(3):  # another process may insert the same row first: then update it
            try:
                with write_tx(self._engine) as conn:
                    done = conn.execute(update(_referrals).where(key).values(
                        count=_referrals.c.count + 1)).rowcount
                    if not done:
                        conn.execute(_referrals.insert().values(
                            month=month, category=str(category), level=str(level), count=1))
                return
            except IntegrityError:
                continue
        raise StoreError("Couldn't update the referral count; please try again.")

    def set_feedback(self, session_id: str, turn_idx: int, value: str | None) -> None:
        """What the person thought of one reply ("Like", "Dislike" or a reason); None clears."""
        with write_tx(self._engine) as conn:
            self._check_reply_turn(conn, session_id, turn_idx)
            where = (_feedback.c.session_id == session_id) & (_feedback.c.turn_idx == turn_idx)
            kept = conn.execute(select(_feedback.c.comment).where(where)).scalar()
            conn.execute(delete(_feedback).where(where))
            if value:
                conn.execute(_feedback.insert().values(
                    session_id=session_id, turn_idx=turn_idx,
                    value=" ".join(str(value).split())[:FEEDBACK_MAX], created_at=_now(),
                    comment=kept))

    def _check_reply_turn(self, conn, session_id: str, turn_idx: int) -> None:
        """Feedback is only for the coach's own replies in an existing session."""
        self._get_session(conn, session_id)
        row = conn.execute(select(_turns.c.role).where(
            (_turns.c.session_id == session_id) & (_turns.c.idx == turn_idx))).first()
        if row is None or row.role != "assistant":
            raise InputError("Feedback can only be given on one of the coach's replies.")

    def set_feedback_comment(self, session_id: str, turn_idx: int, comment: str) -> None:
        """Add the person's own words to their feedback on one reply (a reply with no like or
        dislike yet gets the value "Comment")."""
        words = " ".join(str(comment or "").split())[:COMMENT_MAX]
        if not words:
            raise InputError("The comment is empty: write a few words, or leave it.")
        with write_tx(self._engine) as conn:
            self._check_reply_turn(conn, session_id, turn_idx)
            where = (_feedback.c.session_id == session_id) & (_feedback.c.turn_idx == turn_idx)
            done = conn.execute(update(_feedback).where(where).values(comment=words))
            if done.rowcount == 0:
                conn.execute(_feedback.insert().values(
                    session_id=session_id, turn_idx=turn_idx, value="Comment",
                    created_at=_now(), comment=words))

    def feedback(self, session_id: str) -> dict[int, str]:
        """{turn idx: value} for the session's replies that got feedback."""
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(_feedback).where(_feedback.c.session_id == session_id))
            return {r.turn_idx: r.value for r in rows}

    def feedback_summary(self) -> list[dict[str, Any]]:
        """Every piece of feedback with the backend and stage of the reply it is about (no
        text), oldest first, for `coach eval feedback`."""
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(_feedback.c.value, _feedback.c.created_at, _feedback.c.comment,
                       _turns.c.backend, _turns.c.stage)
                .join(_turns, (_turns.c.session_id == _feedback.c.session_id)
                      & (_turns.c.idx == _feedback.c.turn_idx))
                .order_by(_feedback.c.created_at))
            return [{"value": r.value, "backend": r.backend or "", "stage": r.stage or "",
                     "commented": bool(r.comment),
                     "created_at": _utc(r.created_at).isoformat()} for r in rows]

    def referral_counts(self) -> list[dict[str, Any]]:
        """Every month's crisis referrals by category and level, oldest month first."""
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(_referrals).order_by(
                _referrals.c.month, _referrals.c.category, _referrals.c.level)).mappings()
            return [dict(r) for r in rows]

    def add_checkin(self, session_id: str, rating: int) -> Checkin:
        """Record how things feel today, a whole number from 0 to 10."""
        if isinstance(rating, bool) or not isinstance(rating, numbers.Integral) \
                or not 0 <= rating <= 10:
            raise InputError("A check-in is a whole number from 0 (worst) to 10 (best).")
        rating = int(rating)
        checkin = Checkin(session_id=session_id, rating=rating, created_at=_now())
        with write_tx(self._engine) as conn:
            self._touch(conn, session_id)
            conn.execute(_checkins.insert().values(**dataclasses.asdict(checkin)))
        return checkin

    def checkins(self, limit: int = 100, session_id: str | None = None) -> list[Checkin]:
        """The latest check-ins across all sessions (or one), oldest first, for a chart."""
        query = select(_checkins).order_by(_checkins.c.created_at.desc(), _checkins.c.id.desc())
        if session_id is not None:
            query = query.where(_checkins.c.session_id == session_id)
        with read_tx(self._engine) as conn:
            rows = conn.execute(query.limit(max(0, int(limit)))).all()
        return [Checkin(r.session_id, r.rating, _utc(r.created_at)) for r in reversed(rows)]

    def get_state(self, session_id: str) -> dict[str, Any]:
        """The coaching flow's saved state for a session ({} before the first save)."""
        with read_tx(self._engine) as conn:
            self._get_session(conn, session_id)
            row = conn.execute(select(_state.c.state).where(_state.c.session_id == session_id)).first()
        return dict(row.state) if row and isinstance(row.state, dict) else {}

    def set_state(self, session_id: str, state: dict[str, Any]) -> None:
        """Replace the flow state of a session (one row per session)."""
        with write_tx(self._engine) as conn:
            self._get_session(conn, session_id)
            conn.execute(delete(_state).where(_state.c.session_id == session_id))
            conn.execute(_state.insert().values(session_id=session_id, state=self._json(state),
                                                updated_at=_now()))

    def set_owner(self, session_id: str, owner: str) -> None:
        """Record which login owns a session (the web app's per-user isolation)."""
        with write_tx(self._engine) as conn:
            self._get_session(conn, session_id)
            conn.execute(delete(_owners).where(_owners.c.session_id == session_id))
            conn.execute(_owners.insert().values(session_id=session_id, owner=str(owner)))

    def get_owner(self, session_id: str) -> str | None:
        with read_tx(self._engine) as conn:
            return conn.scalar(select(_owners.c.owner).where(_owners.c.session_id == session_id))

    def sessions_owned_by(self, owner: str) -> set[str]:
        with read_tx(self._engine) as conn:
            return set(conn.scalars(select(_owners.c.session_id).where(_owners.c.owner == owner)))

    def save_summary(self, session_id: str, text: str) -> None:
        """Keep a short summary of a session (used later only if it has history opt-in)."""
        with write_tx(self._engine) as conn:
            self._touch(conn, session_id)
            conn.execute(_summaries.insert().values(
                session_id=session_id, text=self._text(text), created_at=_now()))

    def latest_summary(self) -> str | None:
        """The newest summary from a session whose owner opted in to history, else None."""
        query = (
            select(_summaries.c.text)
            .join(_sessions, _sessions.c.id == _summaries.c.session_id)
            .where(_sessions.c.history_opt_in.is_(True))
            .order_by(_summaries.c.created_at.desc(), _summaries.c.id.desc())
            .limit(1)
        )
        with read_tx(self._engine) as conn:
            return conn.execute(query).scalar()

    # -- export --------------------------------------------------------------------------
    def snapshot(self, session_id: str) -> Snapshot:
        """Everything stored for one session, read consistently."""
        with read_tx(self._engine) as conn:
            session = self._get_session(conn, session_id)
            checkins = conn.execute(
                select(_checkins).where(_checkins.c.session_id == session_id)
                .order_by(_checkins.c.created_at, _checkins.c.id)
            )
            summaries = conn.execute(
                select(_summaries.c.text).where(_summaries.c.session_id == session_id)
                .order_by(_summaries.c.created_at, _summaries.c.id)
            )
            fb = list(conn.execute(select(_feedback).where(
                _feedback.c.session_id == session_id)))
            return Snapshot(
                session=session,
                turns=self._turns(conn, session_id),
                plan=self._plan(conn, session_id),
                checkins=[Checkin(r.session_id, r.rating, _utc(r.created_at)) for r in checkins],
                safety_events=self._events(conn, session_id),
                summaries=list(summaries.scalars()),
                feedback={r.turn_idx: r.value for r in fb},
                feedback_comments={r.turn_idx: r.comment for r in fb if r.comment},
            )

    def export(self, session_id: str, fmt: str = "md") -> str:
        """The whole session as Markdown ('md') or JSON ('json') text."""
        from .export import render

        return render(self.snapshot(session_id), fmt)

    # -- internals -----------------------------------------------------------------------
    def _add_turn(self, session_id, role, text, stage, sources, safety, backend, status,
                  state_before=None) -> Turn:
        now = _now()
        with write_tx(self._engine) as conn:
            # Touching the session row first also locks it on PostgreSQL, so two writers to
            # one session take turns computing the next idx (SQLite's BEGIN IMMEDIATE does too).
            extra = {}
            if role == "assistant":
                extra = {k: v for k, v in (("stage", stage), ("backend", backend)) if v}
            self._touch(conn, session_id, **extra)
            last = conn.execute(
                select(func.max(_turns.c.idx)).where(_turns.c.session_id == session_id)
            ).scalar()
            turn = Turn(
                session_id=session_id, idx=0 if last is None else last + 1, role=role,
                text=self._text(text), stage=stage, sources=self._json(sources),
                safety=self._json(safety), backend=backend, created_at=now, status=status,
                state_before=None if state_before is None else self._json(state_before),
            )
            conn.execute(_turns.insert().values(**dataclasses.asdict(turn)))
            if role == "assistant":
                conn.execute(
                    update(_turns)
                    .where(_turns.c.session_id == session_id, _turns.c.role == "user",
                           _turns.c.status == "pending")
                    .values(status="done")
                )
        return turn

    def _touch(self, conn, session_id: str, **values: Any) -> None:
        done = conn.execute(
            update(_sessions).where(_sessions.c.id == session_id)
            .values(updated_at=_now(), **values)
        )
        if done.rowcount == 0:
            raise SessionNotFound(session_id)

    def _get_session(self, conn, session_id: str) -> Session:
        if not isinstance(session_id, str):
            raise SessionNotFound(str(session_id))
        row = conn.execute(select(_sessions).where(_sessions.c.id == session_id)).first()
        if row is None:
            raise SessionNotFound(session_id)
        data = row._asdict()
        data["created_at"] = _utc(data["created_at"])
        data["updated_at"] = _utc(data["updated_at"])
        data["history_opt_in"] = bool(data["history_opt_in"])
        return Session(**data)

    def _turns(self, conn, session_id: str, include_superseded: bool = False) -> list[Turn]:
        query = select(_turns).where(_turns.c.session_id == session_id)
        if not include_superseded:
            query = query.where(_turns.c.superseded.is_(False))
        rows = conn.execute(query.order_by(_turns.c.idx))
        return [Turn(**{**r._asdict(), "created_at": _utc(r.created_at),
                        "superseded": bool(r.superseded)}) for r in rows]

    def _plan(self, conn, session_id: str) -> Plan | None:
        row = conn.execute(select(_plans).where(_plans.c.session_id == session_id)).first()
        if row is None:
            return None
        return Plan(items=list(row.items or []), agreed=bool(row.agreed),
                    updated_at=_utc(row.updated_at))

    def _events(self, conn, session_id: str) -> list[SafetyEvent]:
        rows = conn.execute(
            select(_events).where(_events.c.session_id == session_id)
            .order_by(_events.c.created_at, _events.c.id)
        )
        return [
            SafetyEvent(session_id=r.session_id, turn_idx=r.turn_idx, kind=r.kind,
                        category=r.category, level=r.level, detail=r.detail,
                        created_at=_utc(r.created_at))
            for r in rows
        ]

    def _session_values(self, fields: dict[str, Any]) -> dict[str, Any]:
        unknown = set(fields) - set(SESSION_FIELDS)
        if unknown:
            raise ValueError(f"unknown session field(s): {', '.join(sorted(unknown))}")
        values = dict(fields)
        if "role" in values:
            values["role"] = values["role"] or "unknown"
            if values["role"] not in ROLES:
                raise ValueError(f"session role must be one of {ROLES}, not {values['role']!r}")
        if "history_opt_in" in values:
            values["history_opt_in"] = bool(values["history_opt_in"])
        if "title" in values:
            values["title"] = self._text(values["title"] or "")
        for key in ("region", "stage", "backend"):
            if values.get(key) is not None:
                values[key] = self._text(str(values[key]))
        return values

    def _text(self, value: Any) -> str:
        """Text as given, except what the database cannot hold (see the module docstring)."""
        if not isinstance(value, str):
            raise InputError("A message must be text.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        if self._pg and "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        return value

    def _json(self, value: Any) -> Any:
        """A JSON-ready copy of `value` (verdict objects via to_dict, dataclasses, tuples)."""
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str):
            return self._text(value)
        if hasattr(value, "to_dict") and callable(value.to_dict):
            return self._json(value.to_dict())
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self._json(dataclasses.asdict(value))
        if isinstance(value, dict):
            return {self._text(str(k)): self._json(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self._json(v) for v in value]
        return self._text(str(value))
