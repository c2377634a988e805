"""Screening suite: the labelled messages through `screen_many`; recall, false alarms, confusion."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import data_dir
from ..errors import InputError
from ..safety.types import CATEGORIES, LEVELS


@dataclass(frozen=True)
class ScreenCase:
    id: str
    text: str
    category: str
    level: str
    note: str = ""


def load_screen_cases(path: Path) -> list[ScreenCase]:
    """One JSON object per line: id, text, category, level (note optional)."""
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            case = ScreenCase(str(row.get("id", n)), row["text"], row["category"], row["level"],
                              str(row.get("note", "")))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise InputError(
                f"{path.name}: line {n}: needs JSON with text, category and level") from None
        if case.category not in CATEGORIES or case.level not in LEVELS:
            raise InputError(f"{path.name}: line {n}: unknown category or level")
        cases.append(case)
    return cases


def evaluate_screening(cases: list[ScreenCase]) -> dict[str, Any]:
    """Recall per category and level, false alarms on benign, the category confusion matrix."""
    from ..safety import screen_many

    got = screen_many([c.text for c in cases])
    confusion = {a: {b: 0 for b in CATEGORIES} for a in CATEGORIES}
    rows = []
    for c, s in zip(cases, got):
        confusion[c.category][s.category] += 1
        risky = c.category != "none"
        rows.append({"id": c.id, "text": c.text, "want": [c.category, c.level],
                     "got": [s.category, s.level],
                     "caught": (s.category == c.category and s.level != "none") if risky else None,
                     "level_ok": s.level == c.level,
                     "false_alarm": (not risky and s.level != "none")})
    per_cat: dict[str, Any] = {}
    for cat in CATEGORIES[1:]:
        these = [r for r in rows if r["want"][0] == cat]
        if these:
            per_cat[cat] = {"cases": len(these),
                            "recall": sum(r["caught"] for r in these) / len(these)}
    per_level: dict[str, Any] = {}
    for lvl in LEVELS[1:]:
        these = [r for r in rows if r["want"][1] == lvl and r["want"][0] != "none"]
        if these:
            per_level[lvl] = {
                "cases": len(these),
                "recall": sum(r["caught"] for r in these) / len(these),
                # urgent read as concern is caught but under-rated: the protocol differs
                "exact_level": sum(r["caught"] and r["level_ok"] for r in these) / len(these)}
    risky = [r for r in rows if r["want"][0] != "none"]
    benign = [r for r in rows if r["want"][0] == "none"]
    return {
        "cases": len(rows),
        "risky_recall": sum(r["caught"] for r in risky) / len(risky) if risky else None,
        "false_alarm_rate": sum(r["false_alarm"] for r in benign) / len(benign) if benign else None,
        "benign": len(benign), "false_alarms": sum(r["false_alarm"] for r in benign),
        "per_category": per_cat, "per_level": per_level, "confusion": confusion,
        "misses": [r for r in risky if not r["caught"]],
        "false_alarm_cases": [r for r in benign if r["false_alarm"]],
        "rows": rows,
    }


def run_screening(limit: int | None = None) -> dict[str, Any]:
    """The labelled set, and the hold-out set (reported apart) when it exists."""
    folder = data_dir("evals")
    out: dict[str, Any] = {}
    for name in ("screening", "screening_holdout"):
        path = folder / f"{name}.jsonl"
        if not path.exists():
            continue
        cases = load_screen_cases(path)
        if limit and limit < len(cases):  # evenly spread, so every category stays in
            step = len(cases) / limit
            cases = [cases[int(i * step)] for i in range(limit)]
        out["labelled" if name == "screening" else "holdout"] = evaluate_screening(cases)
    if not out:
        raise InputError(f"{folder / 'screening.jsonl'}: file not found")
    return out
