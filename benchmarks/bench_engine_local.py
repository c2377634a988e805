"""The local model through the whole engine vs the raw llama.cpp server, on the same prompts.

Run: .venv/bin/python benchmarks/bench_engine_local.py [--turns N]

The engine runs the `full` strategy (the model writes the whole reply) at temperature 0, and
every chat request it sends is recorded and replayed as plain HTTP to the same server (after a
one-token request that evicts it from the server's prompt cache), so both sides process the
same prompt cold and generate the same tokens. tokens/s is end to end (prompt + generation). Reported: time to first token (engine: first text shown to the
user, which the output rails release a sentence at a time), tokens/s, and resident memory of
the app process and the model server.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Iterator

import httpx

TURNS = [
    "I found messages from his ex on his phone and I feel sick",
    "He cheated on me last year and swore it was over",
    "I keep replaying it at night and can't sleep",
    "When I bring it up he gets defensive and walks away",
    "I want to believe him but I'm scared of being fooled again",
    "How do we even start to rebuild this?",
]


class Recorder:
    """Wraps a backend and keeps the chat requests the engine sends."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.requests = inner, inner.name, []

    def chat(self, messages: list[dict], **kw: Any) -> Iterator[str]:
        self.requests.append((messages, kw))
        return self.inner.chat(messages, **kw)

    def __getattr__(self, item: str) -> Any:
        return getattr(self.inner, item)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def raw_stream(url: str, model: str, messages: list[dict], max_tokens: int) -> tuple[float, float, int, str]:
    body = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "cache_prompt": False}  # cold, like the engine's new prompt
    t0 = time.perf_counter()
    first, tokens, text = None, 0, ""
    with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=300) as r:
        for line in r.iter_lines():
            if not line.startswith("data: ") or line.endswith("[DONE]"):
                continue
            delta = json.loads(line[6:])["choices"][0].get("delta", {}).get("content") or ""
            if delta:
                first = first or time.perf_counter()
                tokens += 1
                text += delta
    end = time.perf_counter()
    return (first or end) - t0, end - t0, tokens, text


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=len(TURNS))
    args = ap.parse_args()
    os.environ.setdefault("COACH_LLM_TEMPERATURE", "0")
    model_home = os.environ.get("COACH_HOME")
    os.environ["COACH_HOME"] = tempfile.mkdtemp(prefix="coach-bench-")
    from coach.engine import Coach, Delta, TurnResult
    from coach.llm.local import LocalBackend, prepare_model
    from pathlib import Path

    from coach.settings import Settings

    default_home = Settings(_env_file=None).model_copy(update={"home": None}).data_home
    model = prepare_model(Path(model_home) if model_home else default_home)
    backend = LocalBackend(model)
    rec = Recorder(backend)
    coach = Coach(llm=rec, strategy="full", region="us")
    sid, _ = coach.start_session()
    rows = []
    for text in TURNS[: args.turns]:
        before = len(rec.requests)
        t0 = time.perf_counter()
        first = None
        result = None
        for event in coach.respond(sid, text):
            if isinstance(event, Delta) and first is None:
                first = time.perf_counter() - t0
            if isinstance(event, TurnResult):
                result = event
        total = time.perf_counter() - t0
        if len(rec.requests) == before or result is None or result.backend != "local":
            print(f"  (turn not written by the model: backend {result and result.backend}, "
                  f"{(result and result.notice) or 'no chat request'})", file=sys.stderr)
            continue  # understand stage (one-sentence reflection), safety, or a fallback
        messages, kw = rec.requests[-1]
        url = backend.server.base_url
        # evict the engine's prompt from the server's KV cache so the replay is as cold
        raw_stream(url, backend.model.alias, [{"role": "user", "content": "Say ok."}], 1)
        r_first, r_total, tokens, _ = raw_stream(url, backend.model.alias, messages,
                                                 kw.get("max_tokens", 220))
        llm = result.timings["llm"]
        rows.append({"engine_ttft": first or total, "engine_llm": llm, "raw_ttft": r_first,
                     "raw_total": r_total, "tokens": tokens,
                     "engine_tps": tokens / llm if llm else 0.0,
                     "raw_tps": tokens / r_total if r_total else 0.0})
    app_rss = rss_mib(os.getpid())
    server_rss = rss_mib(backend.server.process.pid) if backend.server.process else 0.0
    coach.close()
    if not rows:
        print("no turn was written by the model")
        return 1
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"model turns measured: {len(rows)} (full strategy, temperature 0, 2 threads)")
    print(f"{'':22} {'engine':>10} {'raw server':>11}")
    print(f"{'time to first text s':22} {med['engine_ttft']:10.2f} {med['raw_ttft']:11.2f}"
          "   (engine: first checked sentence)")
    print(f"{'tokens/s':22} {med['engine_tps']:10.1f} {med['raw_tps']:11.1f}"
          f"   ratio {med['engine_tps'] / med['raw_tps']:.2f}")
    print(f"median tokens per reply: {med['tokens']:.0f}")
    print(f"resident memory: app {app_rss:.0f} MiB + model server {server_rss:.0f} MiB"
          f" = {app_rss + server_rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
