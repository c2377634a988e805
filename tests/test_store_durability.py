"""Crash safety and several processes at once, with real processes on a real SQLite file."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from coach.store import SessionStore


@pytest.fixture(autouse=True)
def coach_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("COACH_HOME", str(home))
    monkeypatch.delenv("COACH_DB_URL", raising=False)
    return home


def _python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout)


def test_a_user_turn_survives_the_process_being_killed_right_after(coach_home):
    child = _python("""
        import os, signal, sys
        from coach.store import SessionStore
        store = SessionStore()
        s = store.create_session(title="before the crash")
        store.add_user_turn(s.id, "Please keep this: it took me a while to write.", stage="open")
        print(s.id, flush=True)
        # A reply half-written when the crash comes must vanish without a trace.
        conn = store.engine.connect().execution_options(coach_write=True)
        conn.begin()
        conn.exec_driver_sql(
            "INSERT INTO turns (session_id, idx, role, text, created_at, status) "
            "VALUES (?, 1, 'assistant', 'half a reply', '2020-01-01 00:00:00', 'done')", (s.id,))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert child.returncode == -signal.SIGKILL, child.stderr
    session_id = child.stdout.strip()
    assert session_id

    with SessionStore() as store:
        assert store.integrity_check()
        turns = store.turns(session_id)
        assert [(t.role, t.text, t.status) for t in turns] == [
            ("user", "Please keep this: it took me a while to write.", "pending")]
        assert store.get_session(session_id).title == "before the crash"
        # The conversation simply carries on after the crash.
        reply = store.add_assistant_turn(session_id, "Thank you for writing that.")
        assert reply.idx == 1
        assert [t.status for t in store.turns(session_id)] == ["done", "done"]


def test_two_processes_writing_the_same_session_lose_nothing(coach_home):
    with SessionStore() as store:
        session_id = store.create_session(title="busy").id
    writer = f"""
        from coach.store import SessionStore
        import sys
        with SessionStore() as store:
            for i in range(40):
                store.add_user_turn({session_id!r}, f"{{sys.argv[1]}} {{i}}")
    """
    procs = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(writer), name],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("first", "second")
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with SessionStore() as store:
        turns = store.turns(session_id)
        assert [t.idx for t in turns] == list(range(80))
        assert sorted(t.text for t in turns) == sorted(
            f"{name} {i}" for name in ("first", "second") for i in range(40))
        assert store.integrity_check()
