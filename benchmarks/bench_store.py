"""Latency of storing one exchange (add_user_turn + add_assistant_turn) on the SQLite store.

Run: .venv/bin/python benchmarks/bench_store.py [--pairs N] [--url URL]
Uses a throwaway COACH_HOME unless --url is given; prints p50/p95/max in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    """Time N exchanges in one session and print the percentiles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--url", default=None, help="database URL (default: temp SQLite file)")
    args = parser.parse_args()

    tmp = None
    if args.url is None:
        tmp = tempfile.TemporaryDirectory(prefix="coach-bench-")
        os.environ["COACH_HOME"] = tmp.name
        os.environ.pop("COACH_DB_URL", None)
    from coach.store import SessionStore

    user_ms, reply_ms = [], []
    message = "I found messages on his phone and I don't know what to think any more. " * 4
    reply = "It sounds like you feel shaken. What would help you feel a little steadier?"
    sources = [{"title": "After a discovery", "source": "seed-1.txt", "score": 0.71}]
    safety = {"category": "none", "level": "none", "reasons": []}
    with SessionStore(args.url) as store:
        session = store.create_session(title="bench", role="hurt_partner")
        for _ in range(args.pairs):
            t0 = time.perf_counter()
            store.add_user_turn(session.id, message, stage="understand", safety=safety)
            t1 = time.perf_counter()
            store.add_assistant_turn(session.id, reply, stage="understand", sources=sources,
                                     safety=safety, backend="bench")
            t2 = time.perf_counter()
            user_ms.append((t1 - t0) * 1000)
            reply_ms.append((t2 - t1) * 1000)
        backend = store.engine.dialect.name
    both = [u + r for u, r in zip(user_ms, reply_ms)]
    print(f"session store on {backend}, {args.pairs} exchanges")
    for name, values in (("add_user_turn", user_ms), ("add_assistant_turn", reply_ms),
                         ("exchange (both)", both)):
        print(f"  {name:<20} p50 {statistics.median(values):6.2f} ms   "
              f"p95 {_pct(values, 95):6.2f} ms   max {max(values):6.2f} ms")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
