"""Engine overhead per turn, LLM time excluded: screening + retrieval + composing + storing.

Run: .venv/bin/python benchmarks/bench_engine.py [--sessions N]
Scripted backend, a throwaway COACH_HOME, realistic turns from evals/conversations.yaml.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import yaml


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=30)
    args = ap.parse_args()
    os.environ["COACH_HOME"] = tempfile.mkdtemp(prefix="coach-bench-")
    from coach.config import data_dir
    from coach.engine import Coach

    cases = yaml.safe_load((data_dir("evals") / "conversations.yaml").read_text())
    coach = Coach(llm="scripted")
    sid, _ = coach.start_session()
    coach.reply(sid, "warm-up: my partner lied to me")  # load models and index
    total, parts = [], {"screen": [], "reply": [], "store": []}
    for case in cases[: args.sessions]:
        sid, _ = coach.start_session(region=case.get("region"))
        for text in case["turns"]:
            t = time.perf_counter()
            r = coach.reply(sid, text)
            total.append((time.perf_counter() - t) * 1000)
            for k in parts:
                parts[k].append(r.timings[k] * 1000)
    print(f"turns: {len(total)} in {args.sessions} sessions (scripted backend, LLM time = 0)")
    print(f"{'part':10} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, vals in [("total", total), *parts.items()]:
        print(f"{name:10} {statistics.median(vals):8.2f} {pct(vals, 95):8.2f} {max(vals):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
