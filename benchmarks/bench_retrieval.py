"""Retrieval speed: full-ingest time and warm query latency, hybrid vs dense vs lexical.

Run: .venv/bin/python benchmarks/bench_retrieval.py [--rounds N]
Uses a throwaway COACH_HOME, the curated cards and the queries in evals/retrieval.yaml.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    os.environ["COACH_HOME"] = tempfile.mkdtemp(prefix="coach-bench-")
    from coach.embeddings import get_embedder
    from coach.evals.retrieval import evaluate, load_cases
    from coach.retrieval import Index

    t0 = time.perf_counter()
    get_embedder()
    load_s = time.perf_counter() - t0
    index = Index()
    t0 = time.perf_counter()
    report = index.ingest_curated()
    ingest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.ingest_curated()
    reingest_s = time.perf_counter() - t0
    cases = load_cases()
    queries = [c.query for c in cases]
    print(f"cards: {report.added}  embedder load: {load_s*1000:.0f} ms  "
          f"full ingest: {ingest_s:.2f} s  unchanged re-ingest: {reingest_s*1000:.0f} ms")
    print(f"queries: {len(queries)} x {args.rounds} rounds, k=3, warm index, 1 process")
    print(f"{'mode':8} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'recall@3':>9} "
          f"{'full_r@3':>9} {'MRR':>6}")
    for mode in ("hybrid", "dense", "lexical"):
        for q in queries[:5]:
            index.search(q, k=3, mode=mode)  # warm-up
        times = []
        embedder = get_embedder()
        for _ in range(args.rounds):
            for q in queries:
                embedder.clear_cache()  # every query pays for its own embedding
                t = time.perf_counter()
                index.search(q, k=3, mode=mode)
                times.append((time.perf_counter() - t) * 1000)
        quality = evaluate(index, cases, mode=mode)
        print(f"{mode:8} {statistics.median(times):8.2f} {pct(times, 95):8.2f} "
              f"{statistics.fmean(times):8.2f} {quality['recall@3']:9.3f} "
              f"{quality['full_recall@3']:9.3f} {quality['mrr']:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
