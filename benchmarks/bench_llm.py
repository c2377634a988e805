"""Benchmark the embedded LLM: coach backend vs raw HTTP to the same llama.cpp server."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from coach.llm import get_backend
from coach.llm.local import DEFAULT_SAMPLING, prepare_model

MESSAGES = [
    {
        "role": "system",
        "content": "You are a warm, brief relationship coach. Reply in two sentences.",
    },
    {
        "role": "user",
        "content": (
            "My partner reads my messages when I'm asleep and I don't know how to bring it up."
        ),
    },
]
PREFILL = "It sounds like you feel"
STOPS = [".", "!", "?", "\n"]


def _raw_stream(url: str, payload: dict) -> Iterator[str]:
    """Plain HTTP + SSE parsing, no coach code in between."""
    with httpx.stream("POST", url, json=payload, timeout=120) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choice = json.loads(line[6:])["choices"][0]
            text = (
                choice.get("text")
                if "text" in choice
                else (choice.get("delta") or {}).get("content")
            )
            if text:
                yield text


def _measure(run: Callable[[], Iterator[str]]) -> dict:
    start = time.perf_counter()
    first = last = None
    count = 0
    for _ in run():
        last = time.perf_counter()
        first = first or last
        count += 1
    if first is None:
        return {
            "ttft": float("nan"),
            "tps": float("nan"),
            "total": time.perf_counter() - start,
            "tokens": 0,
        }
    gen = last - first
    return {
        "ttft": first - start,
        "tps": (count - 1) / gen if count > 1 and gen > 0 else float("nan"),
        "total": last - start,
        "tokens": count,
    }


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--runs", type=int, default=8, help="timed runs per path (after one warm-up)"
    )
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    model_path = prepare_model()
    prepare_s = time.perf_counter() - started

    started = time.perf_counter()
    backend = get_backend("local")
    init_s = time.perf_counter() - started
    started = time.perf_counter()
    base = backend.server.ensure()
    load_s = time.perf_counter() - started
    pid = backend.server.process.pid
    rss_loaded = _rss_mib(pid)

    sampling = dict(DEFAULT_SAMPLING)
    chat_payload = {
        "model": backend.model.alias,
        "messages": MESSAGES,
        "max_tokens": args.max_tokens,
        "temperature": 0.6,
        "stream": True,
        **sampling,
    }
    prompt = backend.chat_template(MESSAGES, prefill=PREFILL)
    comp_payload = {
        "model": backend.model.alias,
        "prompt": prompt,
        "max_tokens": 40,
        "temperature": 0.6,
        "stop": STOPS,
        "stream": True,
        **sampling,
    }

    paths: dict[str, Callable[[], Iterator[str]]] = {
        "chat  coach get_backend('local')": lambda: backend.chat(
            MESSAGES, max_tokens=args.max_tokens
        ),
        "chat  raw HTTP /v1/chat/completions": lambda: _raw_stream(
            f"{base}/chat/completions", chat_payload
        ),
        "prefill coach complete()": lambda: backend.complete(prompt, max_tokens=40, stop=STOPS),
        "prefill raw HTTP /v1/completions": lambda: _raw_stream(
            f"{base}/completions", comp_payload
        ),
    }
    results: dict[str, list[dict]] = {name: [] for name in paths}
    for run in paths.values():  # warm-up: prompt cache and page cache, not timed
        _measure(run)
    # Interleave the paths so background load on a shared machine hits them alike.
    for _ in range(args.runs):
        for name, run in paths.items():
            results[name].append(_measure(run))
    rss_after = _rss_mib(pid)
    backend.close()

    def med(rows: list[dict], key: str) -> float:
        values = [r[key] for r in rows if r[key] == r[key]]
        return statistics.median(values) if values else float("nan")

    print(
        f"model: {model_path.name}  runs: {args.runs} each (+1 warm-up)  "
        f"max_tokens: {args.max_tokens}"
    )
    print(
        f"prepare (join/verify or sidecar hit): {prepare_s:.2f} s   backend init: {init_s:.2f} s   "
        f"server load (spawn -> /v1/models answers): {load_s:.2f} s"
    )
    print(f"server RSS: {rss_loaded:.0f} MiB after load, {rss_after:.0f} MiB after runs")
    print()
    header = (
        f"{'path':38} {'TTFT med':>9} {'TTFT min':>9} {'tok/s med':>10} {'tok/s max':>10} "
        f"{'total med':>10} {'tokens':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, rows in results.items():
        best_tps = max((r["tps"] for r in rows if r["tps"] == r["tps"]), default=float("nan"))
        print(
            f"{name:38} {med(rows, 'ttft'):8.3f}s {min(r['ttft'] for r in rows):8.3f}s "
            f"{med(rows, 'tps'):10.1f} {best_tps:10.1f} {med(rows, 'total'):9.2f}s "
            f"{med(rows, 'tokens'):7.0f}"
        )
    print(
        "(tok/s counts streamed deltas after the first; llama.cpp sends one token per delta. "
        "On a shared machine the max column shows the undisturbed rate.)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
