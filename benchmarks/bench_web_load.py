"""Many people at once: concurrent sessions against a running `coach serve --llm scripted`.

Run: .venv/bin/python benchmarks/bench_web_load.py [--sessions 50] [--turns 5] [--mode api|ui|both]
     [--url http://127.0.0.1:PORT/]   (default: start a server on a free port, temp COACH_HOME)

Every session sends messages carrying its own marker word and checks that its replies, and
afterwards its stored transcript, hold its own markers only. "api" drives the JSON API
(/api/v1, plain HTTP); "ui" drives the page's own endpoint through gradio_client, one client
(= one browser session) per conversation. Prints p50/p95/max turn latency, errors, crossings.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COACH = str(Path(sys.executable).parent / "coach")
MESSAGES = [
    "I found messages on his phone and I feel sick",
    "My husband cheated on me with a coworker two months ago",
    "I keep going over it at night and I can't stop thinking about it",
    "Can we talk about boundaries?",
    "I want to rebuild trust but I don't know where to start",
    "We had a calm talk yesterday and it went better than I expected",
]


@dataclass
class Report:
    """What one simulated person saw."""

    marker: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    crossings: list[str] = field(default_factory=list)
    session: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int, **env: str) -> subprocess.Popen:
    """Start `coach serve --llm scripted` and wait until it answers (raises if it does not)."""
    full = dict(os.environ, COACH_HOME=str(home), COACH_API_RATE="0", **env)
    for key in ("COACH_AUTH", "COACH_AUTH_FILE"):
        full.pop(key, None)
    log = open(home / "serve.log", "w")
    proc = subprocess.Popen([COACH, "serve", "--llm", "scripted", "--port", str(port)],
                            env=full, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    end = time.monotonic() + 180
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"coach serve exited; see {home / 'serve.log'}")
        try:
            with urllib.request.urlopen(url + "api/v1/health", timeout=2) as r:
                if json.load(r).get("ok"):
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("coach serve did not come up in time")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _message(i: int, marker: str) -> str:
    return f"{MESSAGES[i % len(MESSAGES)]}, {marker}{i}"


def _foreign(text: str, own: str, markers: list[str]) -> list[str]:
    return [m for m in markers if m != own and m in text]


def api_person(url: str, marker: str, turns: int, markers: list[str],
               start: threading.Barrier) -> Report:
    """One conversation through the JSON API."""
    import httpx

    rep = Report(marker)
    with httpx.Client(base_url=url, timeout=120) as http:
        start.wait()
        try:
            r = http.post("api/v1/sessions", json={"region": "uk"})
            r.raise_for_status()
            rep.session = r.json()["session"]
        except Exception as exc:
            rep.errors.append(f"create: {exc}")
            return rep
        for i in range(turns):
            text = _message(i, marker)
            t = time.perf_counter()
            try:
                r = http.post("api/v1/turn", json={"session": rep.session, "text": text})
                rep.latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    rep.errors.append(f"turn {i}: HTTP {r.status_code} {r.text[:120]}")
                    continue
                data = r.json()
            except Exception as exc:
                rep.errors.append(f"turn {i}: {type(exc).__name__}: {exc}")
                continue
            if data.get("session") != rep.session or data.get("user") != text:
                rep.crossings.append(f"turn {i} answered for another session or message")
            if not data.get("reply"):
                rep.errors.append(f"turn {i}: empty reply")
            rep.crossings += _foreign(json.dumps(data), marker, markers)
        try:
            r = http.get(f"api/v1/sessions/{rep.session}/export", params={"format": "json"})
            r.raise_for_status()
            stored = r.text
            mine = sum(1 for i in range(turns) if f"{marker}{i}" in stored)
            if mine != turns:
                rep.errors.append(f"transcript holds {mine} of {turns} own messages")
            rep.crossings += _foreign(stored, marker, markers)
        except Exception as exc:
            rep.errors.append(f"export: {exc}")
    return rep


def _chat_text(chat: list) -> str:
    parts = []
    for m in chat or []:
        c = m.get("content") if isinstance(m, dict) else m
        parts.append(json.dumps(c) if not isinstance(c, str) else c)
    return "\n".join(parts)


def ui_person(url: str, marker: str, turns: int, markers: list[str],
              start: threading.Barrier) -> Report:
    """One browser session through the page's own endpoint (gradio_client)."""
    from gradio_client import Client

    rep = Report(marker)
    try:
        client = Client(url, verbose=False)
    except Exception as exc:
        start.wait()
        rep.errors.append(f"connect: {exc}")
        return rep
    start.wait()
    chat: list = []
    for i in range(turns):
        text = _message(i, marker)
        t = time.perf_counter()
        try:
            out = client.predict({"text": text, "files": []}, chat, "uk", False, False,
                                 api_name="/send")
            rep.latencies.append(time.perf_counter() - t)
        except Exception as exc:
            rep.errors.append(f"turn {i}: {type(exc).__name__}: {exc}")
            continue
        chat = out[0]
        shown = _chat_text(chat)
        if f"{marker}{i}" not in shown:
            rep.errors.append(f"turn {i}: own message missing from the chat")
        rep.crossings += _foreign(shown, marker, markers)
    client.close()
    return rep


def run(url: str, sessions: int, turns: int, mode: str) -> list[Report]:
    """All sessions at once; returns one report per session."""
    markers = ["qz" + secrets.token_hex(3) + "x" for _ in range(sessions)]
    person = ui_person if mode == "ui" else api_person
    start = threading.Barrier(sessions)
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        futures = [pool.submit(person, url, m, turns, markers, start) for m in markers]
        return [f.result() for f in futures]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


def summary(reports: list[Report], seconds: float) -> dict:
    """Totals and percentiles over all sessions."""
    lat = [x for r in reports for x in r.latencies]
    return {
        "sessions": len(reports), "turns": len(lat),
        "errors": sum(len(r.errors) for r in reports),
        "crossings": sum(len(r.crossings) for r in reports),
        "p50_s": pct(lat, 50), "p95_s": pct(lat, 95), "max_s": max(lat, default=0.0),
        "mean_s": statistics.fmean(lat) if lat else 0.0,
        "turns_per_s": len(lat) / seconds if seconds else 0.0, "wall_s": seconds,
        "first_errors": [e for r in reports for e in r.errors][:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--mode", choices=("api", "ui", "both"), default="both")
    parser.add_argument("--url", help="a running server (default: start one)")
    args = parser.parse_args()
    proc = tmp = None
    url = args.url
    if not url:
        tmp = tempfile.TemporaryDirectory(prefix="coach-web-load-")
        port = free_port()
        t = time.perf_counter()
        proc = start_server(Path(tmp.name), port)
        url = f"http://127.0.0.1:{port}/"
        print(f"server up in {time.perf_counter() - t:.1f}s at {url}")
    url = url if url.endswith("/") else url + "/"
    failed = False
    try:
        print(f"{'mode':<5} {'sessions':>8} {'turns':>6} {'errors':>6} {'cross':>6} "
              f"{'p50 s':>7} {'p95 s':>7} {'max s':>7} {'turns/s':>8} {'wall s':>7}")
        for mode in (("api", "ui") if args.mode == "both" else (args.mode,)):
            t = time.perf_counter()
            reports = run(url, args.sessions, args.turns, mode)
            s = summary(reports, time.perf_counter() - t)
            print(f"{mode:<5} {s['sessions']:>8} {s['turns']:>6} {s['errors']:>6} "
                  f"{s['crossings']:>6} {s['p50_s']:>7.2f} {s['p95_s']:>7.2f} {s['max_s']:>7.2f} "
                  f"{s['turns_per_s']:>8.1f} {s['wall_s']:>7.1f}")
            for e in s["first_errors"]:
                print(f"  error: {e}")
            failed |= bool(s["errors"] or s["crossings"])
    finally:
        if proc is not None:
            stop_server(proc)
        if tmp is not None:
            tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
