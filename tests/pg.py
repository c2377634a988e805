"""A throwaway PostgreSQL server on 127.0.0.1 for tests (Debian `postgresql`, psycopg)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid

import pytest
from sqlalchemy import create_engine, text

PG_USER = "postgres"  # initdb refuses to run as root, so the server runs as this account


def _as_pg_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def pg_server():
    """Yields an admin URL of a private PostgreSQL on 127.0.0.1; skips if it cannot start."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg not installed: pip install 'trust-coach[postgres]'")
    if os.geteuid() == 0:
        import pwd

        try:
            account = pwd.getpwnam(PG_USER)
        except KeyError:
            pytest.skip(f"running as root and there is no {PG_USER!r} account to run PostgreSQL")
    # Not under pytest's tmp dir: that one is private to root and the server could not enter it.
    base = tempfile.mkdtemp(prefix="coach-pg-")
    data = os.path.join(base, "data")
    if os.geteuid() == 0:
        os.chown(base, account.pw_uid, account.pw_gid)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    try:
        subprocess.run(_as_pg_user([initdb, "-D", data, "-A", "trust", "-U", "coach",
                                    "-E", "UTF8", "--locale=C", "--no-sync"]), **run)
        subprocess.run(_as_pg_user([
            pg_ctl, "-D", data, "-w", "-l", os.path.join(base, "log"),
            "-o", f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off", "start",
        ]), **run)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {getattr(exc, 'stderr', '') or exc}")
    try:
        yield f"postgresql+psycopg://coach@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_pg_user([pg_ctl, "-D", data, "-m", "fast", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database on the test server for one test."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(f"{pg_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"{pg_server}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
