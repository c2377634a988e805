"""Faults really injected: a failing model server, a lost index, a killed process, a full disk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import COACH, ROOT, child_env, free_port
from fake_openai import GOOD_REPLY, FakeServer
from test_engine_local import local_coach, local_model  # noqa: F401  (real-model fixtures)

from coach import compose
from coach.turn import guidance
from coach.engine import Coach
from coach.llm.base import RequestPolicy
from coach.llm.openai_backend import Endpoint, OpenAIBackend
from coach.store import SessionStore

FAST = RequestPolicy(timeout=4.0, first_token_timeout=0.6, connect_timeout=0.5, retries=1,
                     backoff=0.01)
HURT = "I found messages on his phone and I feel sick and betrayed"
MORE = "He says they are only friends but he deleted the chat"
AFTER = "I want to talk to him calmly tonight without accusing him"


def _notice(key: str) -> str:
    return compose.prompts()[key]


@pytest.fixture
def llm_server():
    srv = FakeServer(tokens=GOOD_REPLY)
    yield srv
    srv.close()


def _coach_at(url: str) -> Coach:
    backend = OpenAIBackend(endpoint=Endpoint(base_url=url, api_key="k", model="fake-model"),
                            policy=FAST)
    return Coach(llm=backend, region="us")


# -- the language model fails ----------------------------------------------------------------

@pytest.mark.usefixtures("ready_index")
@pytest.mark.parametrize("mode", ["500", "429", "hang", "garbage", "empty", "drop",
                                  "hang_after_first", "refuse"])
def test_a_failing_model_gives_the_scripted_reply_and_the_session_goes_on(llm_server, mode):
    coach = _coach_at(llm_server.url)
    sid, _ = coach.start_session()
    first = coach.reply(sid, HURT)
    assert first.backend == "openai" and not first.notice
    llm_server.script = [mode] * 3  # every retry fails too
    started = time.monotonic()
    hit = coach.reply(sid, MORE)
    assert time.monotonic() - started < 6, "a failing model must not stall the turn"
    assert hit.backend == "scripted"
    assert hit.reply.endswith(_notice("fallback_notice"))
    assert hit.reply.count("?") == 1  # still a real coaching reply with one question
    llm_server.script = []  # the server recovers
    again = coach.reply(sid, AFTER)
    assert again.backend == "openai" and not again.notice
    turns = coach.store.turns(sid)
    assert [t.role for t in turns] == ["assistant"] + ["user", "assistant"] * 3
    assert all(t.status == "done" for t in turns)
    assert [e.kind for e in coach.store.safety_events(sid)] == ["fallback"]
    coach.close()


def _spawn_fake(port: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"),
                             "--port", str(port), "--good", *extra],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("http://127.0.0.1")
    return proc


@pytest.mark.usefixtures("ready_index")
def test_model_server_killed_mid_stream_then_back_on_the_next_turn():
    port = free_port()
    proc = _spawn_fake(port, "--mode", "hang_after_first")
    coach = _coach_at(f"http://127.0.0.1:{port}/v1")
    sid, _ = coach.start_session()
    threading.Timer(0.3, proc.kill).start()  # SIGKILL while the reply is streaming
    killed = coach.reply(sid, HURT)
    proc.wait(10)
    assert killed.backend == "scripted" and killed.notice == _notice("fallback_notice")
    down = coach.reply(sid, MORE)  # nothing listening at all now
    assert down.backend == "scripted" and down.reply.count("?") == 1
    proc = _spawn_fake(port)  # the server comes back on the same port
    try:
        back = coach.reply(sid, AFTER)
        assert back.backend == "openai" and not back.notice
    finally:
        proc.kill()
        proc.wait(10)
        coach.close()
    assert [t.status for t in coach.store.turns(sid)] == ["done"] * 7


@pytest.mark.slow
@pytest.mark.usefixtures("ready_index")
def test_local_server_killed_mid_stream_is_restarted_for_the_next_turn(local_coach):  # noqa: F811
    """The real llama.cpp server gets SIGKILL while it streams; the supervisor restarts it."""
    backend = local_coach.llm
    real_complete = backend.complete

    def kill_after_first_piece(*args, **kwargs):
        stream = real_complete(*args, **kwargs)
        yield next(stream)
        os.killpg(backend.server.process.pid, signal.SIGKILL)
        yield from stream

    sid, _ = local_coach.start_session()
    backend.complete = kill_after_first_piece
    try:
        hit = local_coach.reply(sid, "My wife lied to me about money and I feel hurt")
    finally:
        del backend.complete
    assert hit.backend == "scripted" and hit.notice == _notice("fallback_notice")
    again = local_coach.reply(sid, "I'm so anxious that there's more she hasn't told me")
    assert again.backend == "local", "the supervisor should have restarted the server"


# -- the guidance index fails ----------------------------------------------------------------

def _closed_chroma(monkeypatch) -> str:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("COACH_CHROMA_URL", url)
    return url


def test_unreachable_chroma_server_degrades_to_listening_with_a_notice(monkeypatch):
    _closed_chroma(monkeypatch)
    coach = Coach(llm="scripted")
    sid, _ = coach.start_session()
    coach.reply(sid, HURT)
    r = coach.reply(sid, MORE)
    assert r.sources == []
    assert _notice("guidance_unavailable_notice") in r.reply
    assert any(q in r.reply for q in _notice("general_questions")) or r.reply.count("?") == 1
    assert [t.role for t in coach.store.turns(sid)][-2:] == ["user", "assistant"]


def test_cli_with_unreachable_chroma_still_coaches_and_ingest_says_why(monkeypatch, tmp_path):
    url = _closed_chroma(monkeypatch)
    script = tmp_path / "turns.txt"
    script.write_text(f"{HURT}\n{MORE}\n", encoding="utf-8")
    out = subprocess.run([COACH, "chat", "--llm", "scripted", "--script", str(script), "--json"],
                         capture_output=True, text=True, timeout=300, env=child_env())
    assert out.returncode == 0, out.stderr
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(replies) == 2 and all(r["reply"] for r in replies)
    assert replies[1]["notice"] == _notice("guidance_unavailable_notice")
    ingest = subprocess.run([COACH, "ingest"], capture_output=True, text=True, timeout=300,
                            env=child_env())
    assert ingest.returncode == 1
    assert ingest.stderr.startswith(f"coach: Can't open the Chroma server at {url}")
    assert len(ingest.stderr.strip().splitlines()) == 1


def _damage(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            path.write_bytes(b"not a database " * 64)


@pytest.mark.usefixtures("ready_index")
@pytest.mark.parametrize("fault", ["corrupted", "deleted"])
def test_index_lost_under_a_running_app_then_rebuilt_by_ingest(coach_home, monkeypatch, fault):
    monkeypatch.setattr(guidance, "INDEX_RETRY_S", 0.0)
    coach = Coach(llm="scripted")
    sid, _ = coach.start_session()
    coach.reply(sid, HURT)
    assert coach.reply(sid, MORE).sources
    if fault == "corrupted":
        _damage(coach_home / "chroma")
    else:
        shutil.rmtree(coach_home / "chroma")
    hurt = coach.reply(sid, "I keep checking his bank statements and I feel ashamed")
    assert hurt.reply and hurt.reply.count("?") <= 1  # answered either way
    if fault == "corrupted":
        assert hurt.sources == [] and _notice("guidance_unavailable_notice") in hurt.reply
    rebuilt = subprocess.run([COACH, "ingest"], capture_output=True, text=True, timeout=300,
                             env=child_env())
    assert rebuilt.returncode == 0, rebuilt.stderr
    if fault == "corrupted":
        assert "rebuilt" in rebuilt.stderr
    back = coach.reply(sid, "We talked about it and he showed me the statements")
    assert back.sources and not back.notice
    assert len([t for t in coach.store.turns(sid) if t.role == "user"]) == 4
    coach.close()


# -- the process is killed while the model is thinking ---------------------------------------

@pytest.mark.usefixtures("ready_index")
def test_sigkill_mid_turn_keeps_every_acknowledged_turn(llm_server, tmp_path):
    llm_server.script = ["ok", "ok", "hang"]  # the third turn never gets its answer
    script = tmp_path / "turns.txt"
    script.write_text(f"{HURT}\n{MORE}\n{AFTER}\n", encoding="utf-8")
    env = child_env(OPENAI_BASE_URL=llm_server.url, OPENAI_API_KEY="k", COACH_MODEL="fake-model",
                    COACH_LLM_FIRST_TOKEN_TIMEOUT="60", COACH_LLM_TIMEOUT="60")
    child = subprocess.Popen([COACH, "chat", "--llm", "openai", "--script", str(script), "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = [child.stdout.readline(), child.stdout.readline()]
    deadline = time.monotonic() + 60
    while len(llm_server.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(llm_server.requests) == 3, "the third turn should be waiting for the model"
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    session = json.loads(lines[0])["session"]

    with SessionStore() as store:
        assert store.integrity_check()
        turns = store.turns(session)
        users = [(t.text, t.status) for t in turns if t.role == "user"]
        assert users == [(HURT, "done"), (MORE, "done"), (AFTER, "pending")]
        assert [t.role for t in turns] == ["assistant", "user", "assistant", "user",
                                           "assistant", "user"]
        assert all(t.text.strip() for t in turns)  # no half-written rows
    # After a restart the conversation simply carries on.
    resume = tmp_path / "resume.txt"
    resume.write_text("Sorry, where were we?\n", encoding="utf-8")
    out = subprocess.run([COACH, "chat", "--llm", "scripted", "--session", session, "--script",
                          str(resume), "--json"], capture_output=True, text=True, timeout=300,
                         env=child_env())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["turn"] == 6
    with SessionStore() as store:
        assert [t.status for t in store.turns(session)] == ["done"] * 8


# -- read-only or full data folder ----------------------------------------------------------

def _can_mount() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(),
                                 reason="needs `unshare -m` and mount (root in CI)")


def _in_private_mount(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """Run `body` (sh) with $MNT a fresh tmpfs mount only this child can see."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = f"set -e\nMNT={mnt}\n{textwrap.dedent(body)}"
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                          timeout=300, env=child_env(PATH=f"{Path(COACH).parent}:"
                                                     f"{os.environ['PATH']}"))


@needs_mount
@pytest.mark.parametrize("layout", ["empty", "missing", "with-db"])
def test_read_only_home_is_one_line_and_a_non_zero_exit(tmp_path, layout):
    """A read-only tmpfs mount (chmod does not stop root, so a real read-only mount is used)."""
    script = tmp_path / "turns.txt"
    script.write_text(f"{HURT}\n", encoding="utf-8")
    home = "$MNT/missing" if layout == "missing" else "$MNT/home"
    prepare = "COACH_HOME=$MNT/home coach sessions list 2>/dev/null" if layout == "with-db" else "true"
    out = _in_private_mount(tmp_path, f"""
        mount -t tmpfs -o size=8m tmpfs $MNT
        mkdir $MNT/home
        {prepare}
        mount -o remount,ro $MNT
        set +e
        COACH_HOME={home} coach chat --llm scripted --script {script}
        echo "rc=$?"
    """)
    assert out.stdout.strip().splitlines()[-1] == "rc=1", out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), out.stderr
    assert "Read-only file system" in lines[0]


@needs_mount
def test_full_disk_is_one_line_and_a_non_zero_exit(tmp_path, ready_index):
    """A real ENOSPC: a small tmpfs holding the index and database, then filled up."""
    script = tmp_path / "turns.txt"
    script.write_text(f"{HURT}\n{MORE}\n", encoding="utf-8")
    out = _in_private_mount(tmp_path, f"""
        mount -t tmpfs -o size=16m tmpfs $MNT
        mkdir -m 700 $MNT/home
        cp -r {ready_index / 'chroma'} $MNT/home/chroma
        COACH_HOME=$MNT/home coach sessions list 2>/dev/null
        dd if=/dev/zero of=$MNT/filler bs=64k 2>/dev/null || true
        set +e
        COACH_HOME=$MNT/home coach chat --llm scripted --script {script}
        echo "rc=$?"
    """)
    assert "rc=1" in out.stdout.splitlines(), out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("coach: "), out.stderr
    assert lines[0].startswith("coach: The session database could not be written")
    assert "you>" not in out.stdout  # nothing was answered that could not be kept
