"""Build flags for llama.cpp that are correct on the CPU at hand, and never compile AMX kernels.

Standard library only: `scripts/build_llama.py` imports this before anything is installed.

Why: built with `-march=native` (llama.cpp's default) on an AMX-capable Xeon, ggml compiles its
AMX matmul kernels, and those segfault on Q4_K weights (ggml_backend_amx_mul_mat). Turning the
GGML_AMX_* options off does not help while GGML_NATIVE is on, because `-march=native` still
defines `__AMX_INT8__`. So we switch GGML_NATIVE off and name every vector extension ourselves.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Iterable
from pathlib import Path

LLAMA_CPP_VERSION = "0.3.36"

# Always off, whatever the CPU says.
NEVER = ("GGML_NATIVE", "GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16", "LLAVA_BUILD")

# The portable set when we cannot read the CPU's flags: every x86-64 CPU sold since ~2015.
PORTABLE_X86 = ("GGML_AVX", "GGML_AVX2", "GGML_FMA", "GGML_F16C", "GGML_BMI2", "GGML_SSE42")

# ggml option -> the /proc/cpuinfo flags that must all be present for it.
_X86_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GGML_SSE42", ("sse4_2",)),
    ("GGML_AVX", ("avx",)),
    ("GGML_AVX2", ("avx2",)),
    ("GGML_FMA", ("fma",)),
    ("GGML_F16C", ("f16c",)),
    ("GGML_BMI2", ("bmi2",)),
    ("GGML_AVX_VNNI", ("avx_vnni",)),
    # ggml's AVX512 path uses F, CD, VL, DQ and BW together (-mavx512f/cd/vl/dq/bw).
    ("GGML_AVX512", ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")),
    ("GGML_AVX512_VBMI", ("avx512f", "avx512vbmi")),
    ("GGML_AVX512_VNNI", ("avx512f", "avx512_vnni")),
    ("GGML_AVX512_BF16", ("avx512f", "avx512_bf16")),
)


def cpu_flags(cpuinfo: str | None = None) -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo, or None when they can't be read."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags = set(value.split())
            return flags or None
    return None


def enabled_options(flags: Iterable[str] | None, machine: str | None = None) -> list[str]:
    """The GGML_* vector options to switch on for a CPU with `flags` (None: unknown)."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return []  # other architectures: ggml's baseline for the target, still not native
    if flags is None:
        return list(PORTABLE_X86)
    have = set(flags)
    options = [name for name, need in _X86_OPTIONS if all(f in have for f in need)]
    if "GGML_AVX2" not in options:
        # Odd or virtualised flag lists: fall back to the portable set rather than guess lower.
        return list(PORTABLE_X86)
    return options


def cmake_args(flags: Iterable[str] | None = None, machine: str | None = None) -> str:
    """The full CMAKE_ARGS string for llama-cpp-python on this CPU (or for `flags`)."""
    on = enabled_options(cpu_flags() if flags is None else flags, machine)
    machine = (machine or platform.machine()).lower()
    off: list[str] = [name for name in NEVER]
    if machine in ("x86_64", "amd64"):
        off += [name for name, _ in _X86_OPTIONS if name not in on]
    parts = [f"-D{name}=OFF" for name in off] + [f"-D{name}=ON" for name in on]
    return " ".join(parts)


def build_key(args: str, extra: Iterable[str] = ()) -> str:
    """A short key that changes whenever the flags, llama.cpp version or toolchain change."""
    text = "\n".join([LLAMA_CPP_VERSION, platform.machine(), platform.python_version(), args, *extra])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def system_info_features(info: str) -> dict[str, bool]:
    """Parse llama.cpp's system info ("CPU : SSE3 = 1 | AVX2 = 1 | AMX_INT8 = 1 | ...")."""
    features: dict[str, bool] = {}
    for chunk in info.replace("\n", "|").split("|"):
        name, sep, value = chunk.rpartition("=")
        if not sep:
            continue
        name = name.split(":")[-1].strip()
        if name:
            features[name] = value.strip() == "1"
    return features


def has_amx(info: str) -> bool:
    """True when llama.cpp's system info shows any AMX kernel compiled in."""
    return any(on for name, on in system_info_features(info).items() if name.startswith("AMX"))
