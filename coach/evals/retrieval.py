"""Retrieval quality: recall@k and MRR over hand-written user queries (`evals/retrieval.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config import data_dir


@dataclass(frozen=True)
class RetrievalCase:
    query: str
    relevant: tuple[str, ...]


def load_cases(path: Path | None = None) -> list[RetrievalCase]:
    path = path or data_dir("evals") / "retrieval.yaml"
    rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    cases = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not row.get("query") or not row.get("relevant"):
            raise ValueError(f"{path.name}: case {n}: needs 'query' and 'relevant'")
        rel = row["relevant"] if isinstance(row["relevant"], list) else [row["relevant"]]
        cases.append(RetrievalCase(str(row["query"]), tuple(map(str, rel))))
    return cases


def evaluate(index: Any, cases: list[RetrievalCase], k: int = 3, mode: str = "hybrid") -> dict:
    """recall@k: share of queries with an answering card in the top k (each listed card answers
    the query); full_recall@k: share of a query's listed cards (at most k) in the top k,
    averaged; MRR of the first answering card within the top 10."""
    rows = []
    for case in cases:
        ids = [h.card.id for h in index.search(case.query, k=10, mode=mode, include_user=False)]
        rel = set(case.relevant)
        found = len(rel & set(ids[:k]))
        first = next((r for r, i in enumerate(ids, 1) if i in rel), None)
        rows.append({
            "query": case.query, "relevant": list(case.relevant), "top": ids[:k],
            "full_recall": found / min(len(rel), k), "hit": first is not None and first <= k,
            "rr": 1.0 / first if first else 0.0,
        })
    n = max(len(rows), 1)
    return {
        "mode": mode, "k": k, "cases": len(rows),
        f"recall@{k}": sum(r["hit"] for r in rows) / n,
        f"full_recall@{k}": sum(r["full_recall"] for r in rows) / n,
        "mrr": sum(r["rr"] for r in rows) / n,
        "misses": [r for r in rows if not r["hit"]],
        "rows": rows,
    }
