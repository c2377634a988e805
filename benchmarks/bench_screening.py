"""Time input screening over the labelled set: per-message percentiles and batched throughput.

Run: .venv/bin/python benchmarks/bench_screening.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coach.safety import screening  # noqa: E402
from coach.embeddings import get_embedder  # noqa: E402
from coach.safety.classifier import default_model  # noqa: E402
from coach.safety.patterns import has_risk_vocabulary  # noqa: E402
from coach.safety.similarity import default_index  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def _single(texts: list[str], semantic: bool, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        screening._screen_cached.cache_clear()  # measure real work, not the cache
        screening._pattern_hits.cache_clear()
        get_embedder().clear_cache()
        for t in texts:
            start = time.perf_counter()
            screening.screen(t, semantic=semantic)
            times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    cases = [json.loads(x) for x in (ROOT / "evals/screening.jsonl").read_text().splitlines() if x]
    texts = [c["text"] for c in cases]
    default_index()  # load the models and embed the examples once, outside the timings
    default_model()
    screening.screen_many(texts[:5])
    gated = sum(not screening._pattern_hits(t) and has_risk_vocabulary(t) for t in texts)
    print(f"{len(texts)} labelled messages; {gated} ({gated / len(texts):.0%}) reach the similarity "
          "step; every message reaches the classifier")
    for label, semantic in (("patterns only (fast path)", False),
                            ("all layers (default)", True)):
        ms = _single(texts, semantic, rounds=3)
        print(
            f"single, {label:27s} p50 {_pct(ms, 50):.2f} ms  p95 {_pct(ms, 95):.2f} ms  "
            f"p99 {_pct(ms, 99):.2f} ms  max {max(ms):.2f} ms  mean {statistics.mean(ms):.2f} ms"
        )
    for label, semantic in (("patterns only", False), ("all layers", True)):
        screening._pattern_hits.cache_clear()
        start = time.perf_counter()
        screening.screen_many(texts, semantic=semantic)
        took = time.perf_counter() - start
        print(f"batched, {label:22s} {len(texts) / took:8.0f} messages/s ({took * 1000:.0f} ms for all)")
    big = "We talked about whose family we visit first this year. " * 2000 + "He is hitting me now."
    start = time.perf_counter()
    verdict = screening.screen(big)
    print(f"one {len(big) // 1000} kB message: {(time.perf_counter() - start) * 1000:.0f} ms -> {verdict.level}")


if __name__ == "__main__":
    main()
