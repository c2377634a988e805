"""`coach doctor`: check the installation end to end and say what to fix."""

from __future__ import annotations

import argparse
import json
import os
import platform
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not applicable / skipped
    detail: str


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="check the installation (model, llama.cpp build, Chroma, voice, data folder)",
        description="Check Python, the embedded model and its sha256, the llama.cpp build "
                    "(vector extensions, no AMX), a one-token generation, the guidance index, "
                    "the voice models and the data folder's permissions.",
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument("--no-generate", action="store_true",
                   help="skip the one-token generation with the local model")
    p.set_defaults(func=run)


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, f"Python {platform.python_version()} ({sys.executable})")


def _version() -> Check:
    from coach import __version__

    return Check("coach", True, f"trust-coach {__version__}")


def _model() -> Check:
    from coach.llm import local

    path = local.prepare_model()  # joins once; verifies the sha256 (sidecar when unchanged)
    return Check("model", True, f"{path} ({path.stat().st_size / 1e9:.2f} GB, "
                                f"sha256 {local.MODEL_SHA256[:12]}… verified)")


def _llama_build() -> Check:
    import llama_cpp

    from coach.llm.buildflags import has_amx, system_info_features

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    on = [k for k, v in system_info_features(info).items() if v]
    vector = [k for k in on if k.startswith(("AVX", "SSE", "FMA", "F16C", "BMI", "NEON"))]
    if has_amx(info):
        return Check("llama.cpp build", False,
                     "AMX kernels are compiled in; they crash on AMX CPUs. Run `make setup` "
                     "again to rebuild without them.")
    return Check("llama.cpp build", True,
                 f"llama-cpp-python {llama_cpp.__version__}; AMX off; "
                 f"{' '.join(vector) or 'no vector extensions reported'}")


def _generate() -> Check:
    from coach.llm.local import LocalBackend

    backend = LocalBackend()
    try:
        seconds = backend.self_test()
    finally:
        backend.close()
    return Check("one-token generation", True, f"the local model answered in {seconds:.1f} s "
                                               "(server start and load included)")


def _chroma() -> Check:
    from coach.config import chroma_url
    from coach.retrieval import get_index

    index = get_index()
    where = chroma_url() or "embedded (in the data folder)"
    return Check("guidance index", True, f"Chroma {where}: {index.count()} cards")


def _voice() -> Check:
    from coach.voice.stt import stt_available
    from coach.voice.tts import tts_available

    stt_ok, stt_detail = stt_available()
    tts_ok, tts_detail = tts_available()
    return Check("voice", stt_ok and tts_ok, f"speech to text: {stt_detail}; "
                                             f"text to speech: {tts_detail}")


def _data_folder() -> Check:
    from coach.config import coach_home

    home = coach_home()
    mode = stat.S_IMODE(home.stat().st_mode)
    writable = os.access(home, os.W_OK)
    private = not mode & 0o077
    detail = f"{home} (mode {mode:o}{'' if writable else ', not writable'})"
    if not private:
        detail += f"; others can read it: chmod 700 {home}"
    return Check("data folder", writable and private, detail)


def _settings() -> Check:
    from coach.settings import check

    problems = check()
    if problems:
        return Check("settings", False, " ".join(problems))
    from coach.settings import settings

    s = settings()
    return Check("settings", True, f"replies by {s.llm}; region {s.region}; "
                 f"tracing {'ON (opted in)' if s.langsmith_tracing else 'off'}")


def _run(name: str, fn: Callable[[], Check]) -> Check:
    from coach.errors import CoachError

    try:
        return fn()
    except ImportError as exc:
        return Check(name, False, f"not installed ({exc.name or exc}); run `make setup`")
    except (CoachError, OSError, RuntimeError) as exc:
        return Check(name, False, str(exc))


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    checks = [_run("python", _python), _run("coach", _version), _run("settings", _settings),
              _run("model", _model),
              _run("llama.cpp build", _llama_build)]
    if args.no_generate:
        checks.append(Check("one-token generation", None, "skipped (--no-generate)"))
    elif checks[-1].ok and checks[-2].ok:
        checks.append(_run("one-token generation", _generate))
    else:
        checks.append(Check("one-token generation", None, "skipped: fix the checks above first"))
    checks += [_run("guidance index", _chroma), _run("voice", _voice),
               _run("data folder", _data_folder)]
    failed = [c for c in checks if c.ok is False]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for c in checks:
            mark = {True: "ok  ", False: "FAIL", None: "skip"}[c.ok]
            print(f"{mark}  {c.name}: {c.detail}")
        print(f"\n{len(checks) - len(failed)} of {len(checks)} checks passed "
              f"in {time.monotonic() - started:.1f} s" + ("" if not failed else
              f"; fix: {', '.join(c.name for c in failed)}"))
    return 1 if failed else 0
