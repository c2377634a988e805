"""Build llama-cpp-python for this CPU (never with AMX kernels) and install it into a venv.

Usage: python scripts/build_llama.py VENV_PYTHON     build if needed, then install
       python scripts/build_llama.py --key           print the build key and flags only

pip's own wheel cache is keyed by the source package alone, not by CMAKE_ARGS, so a machine that
once built a native wheel would keep reinstalling it. We build with --no-cache-dir into a
wheelhouse folder named by a key of (llama.cpp version, CPU flags chosen, Python, compiler), and
install from there; the venv records the key it has, so a matching install is a no-op.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from coach.llm.buildflags import LLAMA_CPP_VERSION, build_key, cmake_args  # noqa: E402


def _compiler() -> str:
    try:
        out = subprocess.run(["cc", "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.splitlines()[0] if out.stdout else "cc?"
    except (OSError, subprocess.SubprocessError):
        return "cc?"


def wheelhouse_root() -> Path:
    root = os.environ.get("COACH_WHEELHOUSE")
    return Path(root) if root else Path.home() / ".cache" / "trust-coach" / "wheelhouse"


def main(argv: list[str]) -> int:
    args = cmake_args()
    key = build_key(args, [_compiler()])
    if argv[:1] == ["--key"]:
        print(key, args)
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    python = argv[0]
    venv = Path(python).resolve().parent.parent
    marker = venv / ".llama-build-key"
    if marker.is_file() and marker.read_text().strip() == key:
        print(f"build_llama: llama-cpp-python {LLAMA_CPP_VERSION} ({key}) already installed")
        return 0

    house = wheelhouse_root() / key
    wheels = sorted(house.glob("llama_cpp_python-*.whl"))
    if not wheels:
        house.mkdir(parents=True, exist_ok=True)
        print(f"build_llama: compiling llama-cpp-python {LLAMA_CPP_VERSION} (about 3-5 min)")
        print(f"build_llama: CMAKE_ARGS={args}")
        env = dict(os.environ, CMAKE_ARGS=args, FORCE_CMAKE="1")
        cmd = [python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-cache-dir",
               "--no-binary", "llama-cpp-python", "-w", str(house),
               f"llama-cpp-python=={LLAMA_CPP_VERSION}"]
        done = subprocess.run(cmd, env=env)
        wheels = sorted(house.glob("llama_cpp_python-*.whl"))
        if done.returncode != 0 or not wheels:
            print("build_llama: the llama-cpp-python build failed (see above). It needs "
                  "build-essential and cmake (scripts/system-packages.txt).", file=sys.stderr)
            return 1
        (house / "CMAKE_ARGS").write_text(args + "\n")
    install = [python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
               str(wheels[-1])]
    if subprocess.run(install).returncode != 0:
        return 1
    marker.write_text(key + "\n")
    print(f"build_llama: installed {wheels[-1].name} ({key})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
