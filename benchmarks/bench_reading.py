"""Time the reading of a message (intent/role heads + rules), cold embedding cache each time.

Run: .venv/bin/python benchmarks/bench_reading.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coach.embeddings import get_embedder  # noqa: E402
from coach.reading import DATA, default_model, read  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    rows = [json.loads(x) for x in (DATA / "reading_train.jsonl").read_text().splitlines() if x]
    default_model()
    read("warm up")
    times = []
    for _ in range(2):
        for r in rows:
            get_embedder().clear_cache()  # the engine embeds each message once per turn
            start = time.perf_counter()
            read(r["text"], r.get("prev_coach"))
            times.append((time.perf_counter() - start) * 1000)
    print(f"{len(rows)} messages x 2: reading p50 {_pct(times, 50):.2f} ms  p95 "
          f"{_pct(times, 95):.2f} ms  p99 {_pct(times, 99):.2f} ms  mean "
          f"{statistics.mean(times):.2f} ms (cold embedding cache)")


if __name__ == "__main__":
    main()
