"""Nothing leaves the machine, logs hold no message text, files are private, delete deletes."""

from __future__ import annotations

import io
import ipaddress
import json
import logging
import os
import shutil
import socket
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import COACH, ROOT, child_env

from coach.engine import Coach
from coach.logging_setup import PrivacyFilter, redact, setup_logging

MARKER = "Zebra-Quartz-7731 secret about my sister"  # must never reach a log or survive delete
TURNS = [f"My partner hid messages from me, {MARKER}, and I feel hurt",
         "I keep checking his phone at night and I hate it",
         "I'd like to talk to him calmly this weekend"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- no network outside loopback -------------------------------------------------------------

def _can_unshare_net() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run(["unshare", "--net", "sh", "-c", "ip link set lo up"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_unshare_net(), reason="needs `unshare --net` and iproute2 (root)")
def test_a_whole_session_runs_with_the_network_cut_off(tmp_path):
    """ingest, chat, screening and export in a network namespace that has only loopback."""
    script = tmp_path / "turns.txt"
    script.write_text("\n".join(TURNS) + "\n", encoding="utf-8")
    from conftest import free_port
    port = free_port()
    body = f"""
        set -e
        ip link set lo up
        ! getent hosts pypi.org >/dev/null 2>&1 || {{ echo "network still reachable"; exit 9; }}
        coach ingest
        coach chat --llm scripted --script {script} --json > {tmp_path}/chat.jsonl
        echo '{{"id": 1, "text": "he reads my messages"}}' | coach screen
        SID=$(head -1 {tmp_path}/chat.jsonl | python3 -c 'import json,sys; print(json.load(sys.stdin)["session"])')
        coach sessions export "$SID" --format json -o {tmp_path}/export.json
        # The same through LangChain (ChatOpenAI) to a model server on loopback, with LangSmith
        # tracing asked for in the environment (the coach must ignore it) and token counting.
        python3 {ROOT}/tests/fake_openai.py --port {port} --good &
        FAKE=$!
        for i in $(seq 50); do python3 -c 'import socket; socket.create_connection(("127.0.0.1", {port}), 0.2)' 2>/dev/null && break; sleep 0.1; done
        OPENAI_BASE_URL=http://127.0.0.1:{port}/v1 COACH_MODEL=fake COACH_STRATEGY=full \
          LANGSMITH_TRACING=true LANGCHAIN_TRACING_V2=true LANGSMITH_API_KEY=lsv2-test \
          coach chat --llm openai --script {script} --json > {tmp_path}/lc.jsonl 2> {tmp_path}/lc.err
        python3 -c 'from coach.llm import get_backend; print(get_backend("openai", base_url="http://127.0.0.1:{port}/v1", model="fake").chat_model().get_num_tokens("hello there, friend"))'
        kill $FAKE
        echo ALL-DONE
    """
    env = child_env(PATH=f"{Path(COACH).parent}:{os.environ['PATH']}",
                    TIKTOKEN_CACHE_DIR=str(tmp_path / "no-tiktoken-cache"))
    out = subprocess.run(["unshare", "--net", "sh", "-c", textwrap.dedent(body)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ALL-DONE" in out.stdout
    assert len((tmp_path / "chat.jsonl").read_text().splitlines()) == len(TURNS)
    assert MARKER in (tmp_path / "export.json").read_text(encoding="utf-8")
    replies = [json.loads(line) for line in (tmp_path / "lc.jsonl").read_text().splitlines()]
    assert len(replies) == len(TURNS)
    assert any(r["backend"] == "openai" for r in replies), replies
    err = (tmp_path / "lc.err").read_text()
    assert "langsmith" not in err.lower() and "smith.langchain" not in err, err
    assert not (tmp_path / "no-tiktoken-cache").exists()  # tokens counted without tiktoken


@pytest.fixture
def outbound(monkeypatch):
    """Records every socket connect to an address that is not loopback (and lets it fail)."""
    seen: list[object] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def remote(address) -> bool:
        if not isinstance(address, tuple):
            return False  # AF_UNIX paths stay on this machine
        host = address[0]
        try:
            return not ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return host != "localhost"

    def connect(self, address):
        if remote(address):
            seen.append(address)
            raise OSError("outbound connection blocked by the privacy test")
        return real_connect(self, address)

    def connect_ex(self, address):
        if remote(address):
            seen.append(address)
            return 111
        return real_connect_ex(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if host is not None and name not in ("localhost", "") and remote((name, 0)):
            seen.append(("dns", name))
            raise socket.gaierror("name lookup blocked by the privacy test")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return seen


def test_no_outbound_connection_during_ingest_chat_screen_and_export(outbound, coach_home):
    from coach import retrieval
    from coach.safety import screen

    index = retrieval.get_index()  # empty COACH_HOME: embeds every card (a real ingest)
    assert index.count() > 0
    coach = Coach(llm="scripted", index=index)
    sid, _ = coach.start_session()
    for text in TURNS:
        assert coach.reply(sid, text).reply
    assert screen("he reads my messages and tracks my phone").to_dict()
    assert MARKER in coach.store.export(sid, "json")
    coach.close()
    assert outbound == []


def test_no_outbound_connection_in_a_session_through_langchain(outbound, ready_index,
                                                               monkeypatch, tmp_path):
    """ChatOpenAI to a loopback server, tracing asked for by the environment, token counting."""
    from fake_openai import GOOD_REPLY, FakeServer
    from langchain_core.callbacks import CallbackManager
    from langchain_core.tracers.langchain import LangChainTracer

    from coach.llm import get_backend
    from coach.settings import apply_privacy_defaults

    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2-test")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    apply_privacy_defaults()  # what importing the coach does
    manager = CallbackManager.configure()
    assert not any(isinstance(h, LangChainTracer) for h in manager.handlers)
    server = FakeServer(tokens=GOOD_REPLY)
    try:
        backend = get_backend("openai", base_url=server.url, model="fake")
        coach = Coach(llm=backend, strategy="full")
        sid, _ = coach.start_session()
        results = [coach.reply(sid, text) for text in TURNS]
        assert any(r.backend == "openai" for r in results)
        assert backend.chat_model().get_num_tokens("hello there, friend") > 0
        coach.close()
    finally:
        server.close()
    assert outbound == []
    assert not (tmp_path / "tiktoken").exists()


# -- logs ------------------------------------------------------------------------------------

def _session(stream: io.StringIO) -> None:
    setup_logging(stream)
    coach = Coach(llm="scripted")
    sid, _ = coach.start_session()
    for text in TURNS:
        coach.reply(sid, text)
    coach.store.export(sid, "md")
    coach.close()


@pytest.mark.usefixtures("ready_index")
def test_logs_never_hold_message_text(monkeypatch, caplog):
    monkeypatch.setenv("COACH_LOG_LEVEL", "DEBUG")
    monkeypatch.delenv("COACH_LOG_TEXT", raising=False)
    stream = io.StringIO()
    caplog.set_level(logging.DEBUG)
    _session(stream)
    logged = stream.getvalue()
    assert "coach.engine: turn session=" in logged  # there are logs: ids, sizes, categories
    assert "text=<" in logged
    assert "Zebra-Quartz" not in logged
    # caplog sees records before our handler's filter: our own records must be clean too
    assert "Zebra-Quartz" not in "\n".join(r.getMessage() for r in caplog.records
                                          if r.name.startswith("coach"))


@pytest.mark.usefixtures("ready_index")
def test_text_logging_is_opt_in_and_says_so_loudly(monkeypatch):
    monkeypatch.setenv("COACH_LOG_LEVEL", "INFO")
    monkeypatch.setenv("COACH_LOG_TEXT", "1")
    stream = io.StringIO()
    _session(stream)
    logged = stream.getvalue()
    assert logged.startswith("coach: WARNING: COACH_LOG_TEXT=1: logs WILL include")
    assert "Zebra-Quartz" in logged


def test_cli_logs_at_debug_hold_no_message_text(ready_index, tmp_path):
    script = tmp_path / "turns.txt"
    script.write_text("\n".join(TURNS) + "\n", encoding="utf-8")
    out = subprocess.run([COACH, "chat", "--llm", "scripted", "--script", str(script)],
                         capture_output=True, text=True, timeout=300,
                         env=child_env(COACH_LOG_LEVEL="DEBUG"))
    assert out.returncode == 0, out.stderr
    assert "turn session=" in out.stderr
    assert "Zebra-Quartz" not in out.stderr
    assert "Zebra-Quartz" in out.stdout  # the person still sees their own words


def test_logged_exceptions_lose_their_message_but_keep_their_place(monkeypatch):
    monkeypatch.delenv("COACH_LOG_TEXT", raising=False)
    stream = io.StringIO()
    setup_logging(stream)
    log = logging.getLogger("coach.test")
    try:
        raise ValueError(f"could not parse {MARKER}")
    except ValueError:
        log.exception("turn failed")
    logging.getLogger("httpx").warning("request body %s", MARKER)
    logged = stream.getvalue()
    assert "turn failed [ValueError at test_privacy.py:" in logged
    assert "[arguments hidden]" in logged
    assert "Zebra-Quartz" not in logged
    assert redact(MARKER) == f"<{len(MARKER)} chars>"
    assert PrivacyFilter().filter(logging.makeLogRecord({"msg": "x"}))


# -- private files, real deletion ------------------------------------------------------------

def test_data_files_are_private(ready_index, tmp_path):
    home = ready_index
    script = tmp_path / "turns.txt"
    script.write_text("\n".join(TURNS) + "\n", encoding="utf-8")
    out = subprocess.run([COACH, "chat", "--llm", "scripted", "--script", str(script), "--json"],
                         capture_output=True, text=True, timeout=300, env=child_env())
    assert out.returncode == 0, out.stderr
    sid = out.stdout.splitlines()[0].split('"session": "')[1].split('"')[0]
    export = tmp_path / "mine.md"
    done = subprocess.run([COACH, "sessions", "export", sid, "-o", str(export)],
                          capture_output=True, text=True, timeout=120, env=child_env())
    assert done.returncode == 0, done.stderr
    assert _mode(home) == 0o700
    assert _mode(home / "chroma") == 0o700
    for name in ("coach.db", "coach.db-wal", "coach.db-shm"):
        if (home / name).exists():
            assert _mode(home / name) == 0o600, name
    assert _mode(export) == 0o600
    models = home / "models"
    for path in models.rglob("*") if models.exists() else []:
        assert _mode(path) & 0o077 == 0, path


def _bytes_on_disk(folder: Path, needle: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            found.append(str(path.relative_to(folder)))
    return found


@pytest.mark.usefixtures("ready_index")
def test_delete_removes_the_session_and_its_summary_from_disk(coach_home):
    coach = Coach(llm="scripted")
    sid, _ = coach.start_session(history_opt_in=True)
    for text in TURNS:
        coach.reply(sid, text)
    coach.store.save_summary(sid, f"We talked about {MARKER}")
    other, _ = coach.start_session()
    coach.reply(other, "A different worry about trust")
    assert MARKER in coach.store.export(sid, "json")
    coach.store.delete_session(sid)
    assert coach.store.latest_summary() is None
    with coach.store.engine.connect() as conn:
        for table in ("turns", "plans", "safety_events", "checkins", "summaries",
                      "session_state"):
            left = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table} WHERE session_id = ?",
                                        (sid,)).scalar()
            assert left == 0, table
    assert _bytes_on_disk(coach_home, "Zebra-Quartz") == []  # not in free pages or the WAL
    assert len(coach.store.turns(other)) == 3
    coach.close()


def test_removing_user_material_removes_its_vectors(ready_index, tmp_path):
    mine = tmp_path / "notes.md"
    mine.write_text(f"# My notes\n\nWhen we argue I remember {MARKER} and I shut down. " * 10,
                    encoding="utf-8")
    added = subprocess.run([COACH, "ingest", str(mine)], capture_output=True, text=True,
                           timeout=300, env=child_env())
    assert added.returncode == 0, added.stderr
    from coach import retrieval

    retrieval.reset_index_cache()
    before = retrieval.get_index()
    assert before.count(retrieval.USER) > 0
    before.close()  # a reader holding the file open would block the compaction
    retrieval.reset_index_cache()
    removed = subprocess.run([COACH, "ingest", "--remove-user"], capture_output=True, text=True,
                             timeout=300, env=child_env())
    assert removed.returncode == 0, removed.stderr
    assert "removed" in removed.stdout and "removed 0" not in removed.stdout
    retrieval.reset_index_cache()
    index = retrieval.get_index()
    assert index.count(retrieval.USER) == 0
    assert all(h.card.origin != "user" for h in index.search("when we argue I shut down", k=10))
    # No copy left in Chroma's database (its write-ahead log and freed pages included). Not
    # checked: hnswlib's length.bin, which may hold uninitialised memory of the process.
    db = (ready_index / "chroma" / "chroma.sqlite3").read_bytes()
    assert b"Zebra-Quartz" not in db


def test_no_telemetry_settings_are_on_by_default():
    out = subprocess.run(
        [str(Path(COACH).parent / "python"), "-c",
         "import os, coach.config; print(os.environ['ANONYMIZED_TELEMETRY'], "
         "os.environ['GRADIO_ANALYTICS_ENABLED'], os.environ['HF_HUB_OFFLINE'])"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={k: v for k, v in os.environ.items()
             if k not in ("ANONYMIZED_TELEMETRY", "GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE")})
    assert out.stdout.split() == ["False", "False", "1"], out.stderr
