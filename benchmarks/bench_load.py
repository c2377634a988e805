"""Sustained load on the engine: many concurrent sessions, latency percentiles, errors, memory.

    .venv/bin/python benchmarks/bench_load.py                 # 100 sessions, 120 s, scripted
    .venv/bin/python benchmarks/bench_load.py --fault         # + the same load on an `openai`
                                                              #   backend whose server is killed once
Threads call the engine directly (the same Coach the CLI and the web app use). Each session
sends a turn, waits for the whole reply, optionally pauses (--think), and sends the next.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "I found messages on his phone and I feel sick about it",
    "She says nothing happened but she deleted the chat",
    "I keep checking her location and I hate that I do it",
    "We tried to talk last night and it turned into a fight",
    "I don't know if I can forgive him for lying",
    "What could I say to her without accusing her?",
]


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeModel:
    """The fake OpenAI-compatible server from tests/, in its own process (so it can be killed)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "fake_openai.py"), "--port", str(self.port),
             "--good"], stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def run_load(coach, sessions: int, duration: float, think: float,
             during=None) -> dict:
    """Drive `sessions` concurrent sessions for `duration` seconds; return the measurements."""
    latencies: list[float] = []
    errors: list[str] = []
    sent: dict[str, int] = {}
    fallbacks = [0]
    lock = threading.Lock()
    stop = threading.Event()
    ids = [coach.start_session()[0] for _ in range(sessions)]

    def user(n: int, sid: str) -> None:
        i = n
        while not stop.is_set():
            text = TEXTS[i % len(TEXTS)]
            i += 1
            started = time.perf_counter()
            try:
                result = coach.reply(sid, text)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            finally:
                with lock:
                    sent[sid] = sent.get(sid, 0) + 1
            with lock:
                latencies.append(time.perf_counter() - started)
                fallbacks[0] += bool(result.notice)
            if think:
                stop.wait(think)

    rss = [rss_mb()]
    threads = [threading.Thread(target=user, args=(n, sid), daemon=True)
               for n, sid in enumerate(ids)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    if during:
        threading.Thread(target=during, args=(duration,), daemon=True).start()
    while time.monotonic() - t0 < duration:
        time.sleep(min(10.0, max(0.0, duration - (time.monotonic() - t0))))
        rss.append(rss_mb())
    stop.set()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - t0
    lost = 0
    for sid in ids:  # every sent turn is stored, answered and marked done
        turns = coach.store.turns(sid)
        users = [t for t in turns if t.role == "user"]
        answered = sum(1 for a, b in zip(turns, turns[1:])
                       if a.role == "user" and b.role == "assistant")
        lost += sent.get(sid, 0) - answered + sum(t.status != "done" for t in users)
    return {"turns": len(latencies), "rate": len(latencies) / elapsed,
            "p50": pct(latencies, 0.50), "p95": pct(latencies, 0.95),
            "p99": pct(latencies, 0.99), "max": max(latencies, default=float("nan")),
            "errors": len(errors), "error_kinds": sorted(set(errors))[:3],
            "fallbacks": fallbacks[0], "lost": lost, "rss": rss}


def table(rows: list[tuple[str, dict]]) -> str:
    head = ("| run | turns | turns/s | p50 s | p95 s | p99 s | max s | errors | lost | "
            "fallback replies | RSS start→end MB (max) |")
    lines = [head, "|" + "---|" * 11]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['turns']} | {r['rate']:.1f} | {r['p50']:.3f} | {r['p95']:.3f} | "
            f"{r['p99']:.3f} | {r['max']:.2f} | {r['errors']} | {r['lost']} | {r['fallbacks']} | "
            f"{r['rss'][1] if len(r['rss']) > 1 else r['rss'][0]:.0f}→{r['rss'][-1]:.0f} "
            f"({max(r['rss']):.0f}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds per run")
    parser.add_argument("--sessions", type=int, default=100, help="concurrent sessions")
    parser.add_argument("--think", type=float, default=0.0,
                        help="pause between a reply and the next turn (0: as fast as possible)")
    parser.add_argument("--fault", action="store_true",
                        help="also run on an openai backend whose server is killed once mid-run")
    args = parser.parse_args(argv)

    os.environ.setdefault("COACH_HOME", tempfile.mkdtemp(prefix="coach-load-"))
    sys.path.insert(0, str(ROOT))
    from coach.engine import Coach
    from coach.retrieval import get_index

    get_index()  # build the index first: not part of the measured load
    rows = []
    coach = Coach(llm="scripted")
    coach.reply(coach.start_session()[0], TEXTS[0])  # warm up models
    print(f"scripted: {args.sessions} sessions for {args.duration:.0f} s ...", flush=True)
    rows.append(("scripted", run_load(coach, args.sessions, args.duration, args.think)))
    coach.close()

    if args.fault:
        from coach.llm.base import RequestPolicy
        from coach.llm.openai_backend import Endpoint, OpenAIBackend

        model = FakeModel()
        model.start()
        policy = RequestPolicy(timeout=10, first_token_timeout=3, connect_timeout=1, retries=1)
        backend = OpenAIBackend(endpoint=Endpoint(base_url=model.url, api_key="k",
                                                  model="fake-model"), policy=policy)
        coach = Coach(llm=backend)

        def kill_once(duration: float) -> None:
            time.sleep(duration / 2)
            print("  killing the model server (SIGKILL) ...", flush=True)
            model.kill()
            time.sleep(5)
            model.start()
            print("  model server back", flush=True)

        print(f"openai + fault: {args.sessions} sessions for {args.duration:.0f} s ...",
              flush=True)
        rows.append(("openai, server killed once",
                     run_load(coach, args.sessions, args.duration, args.think, kill_once)))
        coach.close()
        model.kill()

    print()
    print(table(rows))
    for name, r in rows:
        if r["error_kinds"]:
            print(f"{name}: errors such as {r['error_kinds']}")
    return 0 if all(r["errors"] == 0 and r["lost"] == 0 for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
