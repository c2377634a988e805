"""Named, ordered schema migrations, the same for SQLite and PostgreSQL, recorded in `migrations`.

Each migration is a function of a Connection, applied once, in order, inside one write
transaction (both databases roll DDL back on failure). Never edit a released migration:
append a new one, then update `TABLES` below (the shape the queries use) to match; the test
suite checks that the migrated database and `TABLES` agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
)

from .db import StoreError, read_tx, write_tx

# Any fixed number: PostgreSQL processes starting at once queue on this lock.
_PG_LOCK_KEY = 0x7C0AC4


def _fk() -> ForeignKey:
    return ForeignKey("sessions.id", ondelete="CASCADE")


def _now_col(name: str) -> Column:
    return Column(name, DateTime(timezone=True), nullable=False)


def _v1_tables(md: MetaData) -> None:
    """The first schema. Frozen: later changes go in new migrations."""
    Table(
        "sessions", md,
        Column("id", String(64), primary_key=True),
        _now_col("created_at"),
        _now_col("updated_at"),
        Column("title", Text, nullable=False, default=""),
        Column("role", String, nullable=False, default="unknown"),
        Column("region", String, nullable=True),
        Column("stage", String, nullable=True),
        Column("history_opt_in", Boolean, nullable=False, default=False),
        Column("backend", String, nullable=True),
    )
    Table(
        "turns", md,
        Column("session_id", String(64), _fk(), nullable=False),
        Column("idx", Integer, nullable=False),
        Column("role", String, nullable=False),
        Column("text", Text, nullable=False),
        Column("stage", String, nullable=True),
        Column("sources", JSON, nullable=True),
        Column("safety", JSON, nullable=True),
        Column("backend", String, nullable=True),
        _now_col("created_at"),
        Column("status", String, nullable=False, default="done"),
        PrimaryKeyConstraint("session_id", "idx"),
        CheckConstraint("role IN ('user', 'assistant')", name="turns_role"),
        CheckConstraint("status IN ('pending', 'done', 'failed')", name="turns_status"),
    )
    Table(
        "plans", md,
        Column("session_id", String(64), _fk(), primary_key=True),
        Column("items", JSON, nullable=False),
        Column("agreed", Boolean, nullable=False, default=False),
        _now_col("updated_at"),
    )
    Table(
        "safety_events", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("session_id", String(64), _fk(), nullable=False),
        Column("turn_idx", Integer, nullable=True),
        Column("kind", String, nullable=False),
        Column("category", String, nullable=False),
        Column("level", String, nullable=False),
        Column("detail", JSON, nullable=True),
        _now_col("created_at"),
        CheckConstraint(
            "kind IN ('screening', 'output_rail', 'fallback')", name="safety_events_kind"
        ),
        Index("ix_safety_events_session", "session_id"),
    )
    Table(
        "checkins", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("session_id", String(64), _fk(), nullable=False),
        Column("rating", Integer, nullable=False),
        _now_col("created_at"),
        CheckConstraint("rating >= 0 AND rating <= 10", name="checkins_rating"),
        Index("ix_checkins_created", "created_at"),
        Index("ix_checkins_session", "session_id"),
    )
    Table(
        "summaries", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("session_id", String(64), _fk(), nullable=False),
        Column("text", Text, nullable=False),
        _now_col("created_at"),
        Index("ix_summaries_session", "session_id"),
    )


def _m0001_initial(conn: Connection) -> None:
    md = MetaData()
    _v1_tables(md)
    md.create_all(conn)


def _v2_tables(md: MetaData) -> None:
    """Added in 0002: the coaching flow's state per session (stage, role, asked questions...)."""
    Table(
        "session_state", md,
        Column("session_id", String(64), _fk(), primary_key=True),
        Column("state", JSON, nullable=False),
        _now_col("updated_at"),
    )


def _m0002_session_state(conn: Connection) -> None:
    md = MetaData()
    _v1_tables(md)  # for the foreign key target
    _v2_tables(md)
    md.tables["session_state"].create(conn)


def _v3_tables(md: MetaData) -> None:
    """Added in 0003: which login owns a session in the web app (shared by every app process)."""
    Table(
        "session_owners", md,
        Column("session_id", String(64), _fk(), primary_key=True),
        Column("owner", String(200), nullable=False),
        Index("ix_session_owners_owner", "owner"),
    )


def _m0003_session_owners(conn: Connection) -> None:
    md = MetaData()
    _v1_tables(md)  # for the foreign key target
    _v3_tables(md)
    md.tables["session_owners"].create(conn)


def _v4_tables(md: MetaData) -> None:
    """Added in 0004: crisis referrals counted per month and category, with no session id, no
    identifiers and no text, so an operator can report them (and deleting a session keeps the
    count)."""
    Table(
        "referral_counts", md,
        Column("month", String(7), primary_key=True),        # "2026-12"
        Column("category", String(40), primary_key=True),
        Column("level", String(20), primary_key=True),
        Column("count", Integer, nullable=False),
    )


def _m0004_referral_counts(conn: Connection) -> None:
    md = MetaData()
    _v4_tables(md)
    md.tables["referral_counts"].create(conn)


def _v5_tables(md: MetaData) -> None:
    """Added in 0005: what the person thought of a reply (like, dislike or a reason), per turn."""
    Table(
        "feedback", md,
        Column("session_id", String(64), _fk(), primary_key=True),
        Column("turn_idx", Integer, primary_key=True),
        Column("value", String(80), nullable=False),
        _now_col("created_at"),
    )


def _m0005_feedback(conn: Connection) -> None:
    md = MetaData()
    _v1_tables(md)  # for the foreign key target
    _v5_tables(md)
    md.tables["feedback"].create(conn)


def _v6_columns(md: MetaData) -> None:
    """Added in 0006: undo, retry and edit. A superseded turn is kept (its safety events stay
    with it) but is no longer part of the conversation; each user turn keeps the session state
    from before it, so taking it back restores where the session was."""
    turns = md.tables["turns"]
    for column in _v6_new_columns():
        turns.append_column(column)


def _v6_new_columns() -> list[Column]:
    return [Column("superseded", Boolean, nullable=False, server_default=text("false")),
            Column("state_before", JSON, nullable=True)]


def _m0006_turn_undo(conn: Connection) -> None:
    for column in _v6_new_columns():
        kind = column.type.compile(dialect=conn.dialect)
        default = " NOT NULL DEFAULT false" if column.name == "superseded" else ""
        conn.execute(text(f"ALTER TABLE turns ADD COLUMN {column.name} {kind}{default}"))


def _v7_columns(md: MetaData) -> None:
    """Added in 0007: an optional comment with a like or dislike, in the person's words (kept
    with the session on this machine, in its exports, and deleted with it)."""
    md.tables["feedback"].append_column(Column("comment", Text, nullable=True))


def _m0007_feedback_comment(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE feedback ADD COLUMN comment TEXT"))


# Order matters and names are forever: they are what the `migrations` table records.
MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = [
    ("0001_initial", _m0001_initial),
    ("0002_session_state", _m0002_session_state),
    ("0003_session_owners", _m0003_session_owners),
    ("0004_referral_counts", _m0004_referral_counts),
    ("0005_feedback", _m0005_feedback),
    ("0006_turn_undo", _m0006_turn_undo),
    ("0007_feedback_comment", _m0007_feedback_comment),
]

_bookkeeping = MetaData()
MIGRATIONS_TABLE = Table(
    "migrations", _bookkeeping,
    Column("name", String(200), primary_key=True),
    _now_col("applied_at"),
)

# The current shape of every table, as queries see it.
METADATA = MetaData()
_v1_tables(METADATA)
_v2_tables(METADATA)
_v3_tables(METADATA)
_v4_tables(METADATA)
_v5_tables(METADATA)
_v6_columns(METADATA)
_v7_columns(METADATA)
TABLES = METADATA.tables


_KNOWN = frozenset(name for name, _ in MIGRATIONS)


def migrate(engine: Engine) -> list[str]:
    """Apply every migration not yet recorded; return the names applied now (often none)."""
    if _up_to_date(engine):
        # The usual case: no write lock, so `coach sessions list` beside a busy server
        # neither waits for it nor makes it wait.
        return []
    with write_tx(engine) as conn:
        if conn.dialect.name == "postgresql":
            # SQLite's BEGIN IMMEDIATE already serialises; PostgreSQL needs an explicit lock.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        MIGRATIONS_TABLE.create(conn, checkfirst=True)
        done = set(conn.scalars(select(MIGRATIONS_TABLE.c.name)))
        if done - _KNOWN:
            raise StoreError(
                "The session database was written by a newer version of Trust Coach; "
                "please update Trust Coach to open it."
            )
        now_applied = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            step(conn)
            conn.execute(
                MIGRATIONS_TABLE.insert().values(name=name, applied_at=datetime.now(timezone.utc))
            )
            now_applied.append(name)
        return now_applied


def _up_to_date(engine: Engine) -> bool:
    """True when every known migration is recorded (read only; False if unsure)."""
    try:
        with read_tx(engine) as conn:
            if not inspect(conn).has_table(MIGRATIONS_TABLE.name):
                return False
            done = set(conn.scalars(select(MIGRATIONS_TABLE.c.name)))
    except StoreError:
        return False
    return done == _KNOWN
