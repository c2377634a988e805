"""Engine creation for the session store: a private SQLite file by default, any URL by choice."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import StaticPool

from ..config import coach_home
from ..errors import CoachError
from ..settings import settings

DB_FILENAME = "coach.db"
# How long a writer waits for another writer (thread or process) before giving up.
BUSY_TIMEOUT_MS = 10_000


class StoreError(CoachError):
    """The session database cannot be opened or used."""


def default_url() -> str:
    """The database URL in force: COACH_DB_URL, else coach_home()/coach.db."""
    override = (settings().db_url or "").strip()
    if override:
        return override
    return f"sqlite:///{coach_home() / DB_FILENAME}"


def is_sqlite(engine: Engine) -> bool:
    """True when the engine talks to SQLite (pragmas and file modes apply)."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str | None = None) -> Engine:
    """Build an engine for `url` (default: see default_url), private and durable for SQLite."""
    raw = url or default_url()
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise StoreError(
            "COACH_DB_URL is not a database URL (expected e.g. sqlite:///path/coach.db "
            "or postgresql+psycopg://user@host/db)."
        ) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, is_default=url is None and not (settings().db_url or "").strip())
    try:
        # hide_parameters: SQL errors must never echo what a user wrote into logs.
        return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"The database driver {exc.name!r} is not installed; "
            "for PostgreSQL run: pip install 'trust-coach[postgres]'."
        ) from None


def _sqlite_engine(parsed, is_default: bool) -> Engine:
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if in_memory:
        # One shared connection, or every thread would see its own empty database.
        engine = create_engine(
            parsed,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            hide_parameters=True,
        )
    else:
        path = Path(database).expanduser()
        _prepare_private_file(path, own_folder=is_default)
        engine = create_engine(
            parsed.set(database=str(path)),
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            hide_parameters=True,
        )
    _install_sqlite_hooks(engine, wal=not in_memory)
    return engine


def _prepare_private_file(path: Path, own_folder: bool) -> None:
    """Create the folder (0700) and the database file (0600) before SQLite touches them."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if own_folder and stat.S_IMODE(folder.stat().st_mode) != 0o700:
            # Our own data folder: tighten it even if something else created it looser.
            os.chmod(folder, 0o700)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise StoreError(f"Cannot open the session database at {path}: {exc.strerror}.") from None
    try:
        # SQLite gives its -wal and -shm files the mode of the main file, so this covers them too.
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _install_sqlite_hooks(engine: Engine, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own
        # transaction handling delays BEGIN and cannot take the write lock up front).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
        # FULL: in WAL mode every commit is fsynced before it returns, so a user turn that
        # add_user_turn has returned survives a crash or power loss (NORMAL could lose it).
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        # Deleted rows are overwritten, not left in free pages: "delete" must really delete.
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        # Writers take the lock at BEGIN: a deferred read that later upgrades to a write can
        # fail with "database is locked" at once, without honouring busy_timeout.
        if conn.get_execution_options().get("coach_write", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: takes the SQLite write lock up front; commits on exit."""
    try:
        with engine.connect() as conn:
            conn.execution_options(coach_write=True)
            with conn.begin():
                yield conn
    except DBAPIError as exc:
        raise StoreError(f"The session database could not be written: {_reason(exc)}.") from None


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (a consistent snapshot for several SELECTs)."""
    try:
        with engine.connect() as conn:
            with conn.begin():
                yield conn
    except DBAPIError as exc:
        raise StoreError(f"The session database could not be read: {_reason(exc)}.") from None


def purge_wal(engine: Engine) -> None:
    """Fold the SQLite write-ahead log into the database and empty it (best effort).

    Old copies of deleted rows live on in the log until a checkpoint; this removes them now.
    """
    if not is_sqlite(engine):
        return
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except DBAPIError:
        pass  # busy readers: the next checkpoint will do it


def _reason(exc: DBAPIError) -> str:
    # Only the driver's own first line: never the SQL or its parameters (they hold user text).
    text = str(getattr(exc, "orig", None) or "unknown error").strip()
    return text.splitlines()[0].rstrip(".") if text else "unknown error"
