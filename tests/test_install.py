"""The install: llama.cpp built for any x86-64 CPU (never AMX), self-test, doctor, the wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from coach.llm import LLMUnavailable
from coach.llm.buildflags import (
    PORTABLE_X86,
    build_key,
    cmake_args,
    cpu_flags,
    enabled_options,
    has_amx,
    system_info_features,
)

from conftest import COACH, ROOT, child_env

# /proc/cpuinfo flags of a Sapphire Rapids Xeon (the CPU where the native build segfaults).
SAPPHIRE_RAPIDS = (
    "fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi1 bmi2 avx512f avx512dq avx512cd "
    "avx512bw avx512vl avx512vbmi avx512_vnni avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8"
).split()
HASWELL = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi1 bmi2".split()


def _defs(args: str) -> dict[str, str]:
    return dict(part[2:].split("=") for part in args.split())


def test_amx_cpu_gets_its_vector_extensions_but_never_amx_or_native():
    d = _defs(cmake_args(SAPPHIRE_RAPIDS, machine="x86_64"))
    assert d["GGML_NATIVE"] == "OFF"
    assert d["GGML_AMX_TILE"] == d["GGML_AMX_INT8"] == d["GGML_AMX_BF16"] == "OFF"
    for on in ("GGML_AVX512", "GGML_AVX512_VNNI", "GGML_AVX512_BF16", "GGML_AVX_VNNI",
               "GGML_AVX2", "GGML_FMA", "GGML_F16C"):
        assert d[on] == "ON", on


def test_older_cpu_gets_avx2_and_avx512_switched_off_explicitly():
    d = _defs(cmake_args(HASWELL, machine="x86_64"))
    assert d["GGML_AVX2"] == "ON" and d["GGML_NATIVE"] == "OFF"
    assert d["GGML_AVX512"] == "OFF" and d["GGML_AVX_VNNI"] == "OFF"


def test_unknown_or_odd_flags_fall_back_to_the_portable_avx2_set():
    assert enabled_options(None, "x86_64") == list(PORTABLE_X86)
    assert enabled_options(["fpu", "sse"], "x86_64") == list(PORTABLE_X86)
    assert cpu_flags("processor : 0\nmodel name : x\n") is None
    assert enabled_options(SAPPHIRE_RAPIDS, "aarch64") == []
    assert "GGML_NATIVE=OFF" in cmake_args(["asimd"], machine="aarch64")


def test_build_key_changes_with_the_flags():
    a = cmake_args(SAPPHIRE_RAPIDS, machine="x86_64")
    b = cmake_args(HASWELL, machine="x86_64")
    assert build_key(a) != build_key(b)
    assert build_key(a) == build_key(a)
    assert build_key(a, ["gcc 12"]) != build_key(a, ["gcc 13"])


def test_system_info_parsing_spots_amx():
    crashy = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 |"
    safe = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | LLAMAFILE = 1 |"
    assert has_amx(crashy) and not has_amx(safe)
    assert system_info_features(safe)["AVX2"] is True


def test_the_installed_llama_cpp_has_no_amx_kernels():
    """Fails where the segfault bug exists: a build with AMX kernels compiled in."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    assert not has_amx(info), info
    assert system_info_features(info).get("AVX2") or os.uname().machine != "x86_64", info


def test_the_build_script_reports_the_flags_for_this_cpu():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_llama.py"), "--key"],
                         capture_output=True, text=True, check=True).stdout
    key, _, args = out.strip().partition(" ")
    assert len(key) == 16 and "-DGGML_NATIVE=OFF" in args and "AMX_INT8=ON" not in args


def test_the_venv_records_which_build_it_holds():
    marker = Path(sys.executable).resolve().parent.parent / ".llama-build-key"
    if not marker.exists():  # pragma: no cover - only outside the project's own venv
        pytest.skip("not the project's venv")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_llama.py"), "--key"],
                         capture_output=True, text=True, check=True).stdout
    assert marker.read_text().strip() == out.split()[0]


def test_version_flag():
    out = subprocess.run([COACH, "--version"], capture_output=True, text=True, check=True)
    from coach import __version__

    assert out.stdout.strip() == f"coach {__version__}"


# --- the self-test with a real model, and with a server that crashes like the AMX bug ---------

CRASHING_SERVER = textwrap.dedent("""
    import os, signal, sys, http.server
    port = int(sys.argv[1])
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
            self.wfile.write(b"{}")
        def do_POST(self):
            os.kill(os.getpid(), signal.SIGSEGV)  # what llama.cpp's AMX kernel does
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
""")


@pytest.mark.slow
def test_one_token_generation_with_the_real_local_model():
    from coach.llm.local import LocalBackend

    backend = LocalBackend()
    try:
        assert backend.self_test() > 0
        assert backend.server.alive()
    finally:
        backend.close()


@pytest.mark.slow
def test_a_model_that_segfaults_gives_one_sentence_with_cause_and_fix(monkeypatch):
    from coach.engine import Coach
    from coach.llm.local import LocalBackend

    from test_llm_local import StandIn

    monkeypatch.setenv("COACH_LLM_RETRIES", "0")
    backend = LocalBackend(max_restarts=1)
    backend.server = StandIn(CRASHING_SERVER, max_restarts=1)
    try:
        with pytest.raises(LLMUnavailable) as info:
            backend.self_test(timeout=20)
        message = str(info.value)
        assert "crashed on this CPU (SIGSEGV)" in message and "make setup" in message
        coach = Coach(llm=backend)
        problem = coach.self_test()
        assert problem and "crashed on this CPU" in problem
        assert coach.backend_name == "scripted"  # the person still gets replies
        session, _ = coach.start_session()
        assert coach.reply(session, "I found messages on his phone").reply
    finally:
        backend.close()


@pytest.mark.slow
def test_doctor_checks_everything_and_passes_here():
    out = subprocess.run([COACH, "doctor", "--json"], capture_output=True, text=True,
                         timeout=300)
    report = json.loads(out.stdout)
    names = [c["name"] for c in report["checks"]]
    assert names == ["python", "coach", "settings", "model", "llama.cpp build",
                     "one-token generation", "guidance index", "voice", "data folder"]
    assert report["ok"], report
    assert out.returncode == 0
    build = report["checks"][4]["detail"]
    assert "AMX off" in build


def test_doctor_names_a_bad_setting(tmp_path):
    out = subprocess.run([COACH, "doctor", "--json", "--no-generate"], capture_output=True,
                         text=True, timeout=300, env=child_env(COACH_WEB_CONCURRENCY="lots"))
    report = json.loads(out.stdout)
    bad = {c["name"]: c for c in report["checks"]}["settings"]
    assert bad["ok"] is False and "COACH_WEB_CONCURRENCY must be a whole number" in bad["detail"]
    assert out.returncode == 1


def test_doctor_fails_clearly_on_a_folder_others_can_read(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    out = subprocess.run([COACH, "doctor", "--no-generate"], capture_output=True, text=True,
                         env=dict(os.environ, COACH_HOME=str(home)), timeout=300)
    assert out.returncode == 1
    assert "FAIL  data folder" in out.stdout and "chmod 700" in out.stdout


# --- the wheel: guidance, prompts and evals travel inside it -------------------------------------


@pytest.mark.slow
def test_the_wheel_works_without_the_source_tree(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(ROOT)], check=True, timeout=300)
    wheel = next(dist.glob("trust_coach-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Dependencies come from the project's venv (added as a plain path: its .pth files, the
    # editable install among them, are not processed); the coach itself only from the wheel.
    site = Path(sysconfig.get_paths()["purelib"])
    new_site = next((venv / "lib").glob("python*/site-packages"))
    (new_site / "deps.pth").write_text(str(site) + "\n")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update(COACH_HOME=str(tmp_path / "home"), PYTHONPATH="")
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import coach, coach.config as c; print(coach.__file__); "
                            "print(c.data_dir('knowledge'))"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout
    coach_bin = str(venv / "bin" / "coach")
    ask = subprocess.run([coach_bin, "ask", "he keeps promising to change", "--json", "-k", "2"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert ask.returncode == 0, ask.stderr
    hits = json.loads(ask.stdout)
    assert len(hits) == 2
    script = elsewhere / "turns.txt"
    script.write_text("My wife lied to me about money for a year\nI feel stupid and angry\n")
    chat = subprocess.run([coach_bin, "chat", "--script", str(script), "--json", "--llm",
                           "scripted"], cwd=elsewhere, env=env, capture_output=True, text=True,
                          timeout=300)
    assert chat.returncode == 0, chat.stderr
    turns = [json.loads(line) for line in chat.stdout.splitlines() if line.strip()]
    assert len(turns) == 2 and all(t["reply"] for t in turns)


def test_every_package_of_the_code_is_in_the_wheel():
    """A new subpackage left out of pyproject's list works from the checkout but not installed."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "coach").rglob(
        "__init__.py")}
    assert found <= listed, f"missing from pyproject packages: {sorted(found - listed)}"
