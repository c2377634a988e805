"""Screening suite: the labelled messages through `screen_many`; recall, false alarms, confusion."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import data_dir
from ..errors import InputError
from ..safety.types import CATEGORIES, LEVEL_RANK, LEVELS


@dataclass(frozen=True)
class ScreenCase:
    id: str
    text: str
    category: str
    level: str
    note: str = ""


def _labelled_rows(path: Path, field: str, make: Any) -> list[Any]:
    """One JSON object per line with `field`, category and level (id and note optional);
    `make(row, n)` builds the case. A bad line is a one-line error naming the file and line."""
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = make(json.loads(line), n)
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise InputError(
                f"{path.name}: line {n}: needs JSON with {field}, category and level") from None
        if case.category not in CATEGORIES or case.level not in LEVELS:
            raise InputError(f"{path.name}: line {n}: unknown category or level")
        if field == "turns" and not case.turns:
            raise InputError(f"{path.name}: line {n}: no turns")
        cases.append(case)
    return cases


def load_screen_cases(path: Path) -> list[ScreenCase]:
    """One JSON object per line: id, text, category, level (note optional)."""
    return _labelled_rows(path, "text", lambda row, n: ScreenCase(
        str(row.get("id", n)), row["text"], row["category"], row["level"],
        str(row.get("note", ""))))


def evaluate_screening(cases: list[ScreenCase], got: list[Any] | None = None) -> dict[str, Any]:
    """Recall per category and level, false alarms on benign, the category confusion matrix.

    `at_level`: the right category at the wanted level or above (urgent read as concern is
    caught but under-rated, and the protocol differs). A false alarm is a protocol (concern or
    urgent) on a benign message; a check-in on one (the coach asks a safety question for no
    reason) is counted apart, as `asked_benign`.
    """
    if got is None:
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
                     "at_level": (risky and s.category == c.category
                                  and LEVEL_RANK[s.level] >= LEVEL_RANK[c.level]),
                     "false_alarm": (not risky and s.is_risk),
                     "asked": (not risky and s.level == "check_in")})
    per_cat: dict[str, Any] = {}
    for cat in CATEGORIES[1:]:
        these = [r for r in rows if r["want"][0] == cat]
        if these:
            per_cat[cat] = {"cases": len(these),
                            "recall": sum(r["caught"] for r in these) / len(these),
                            "at_level": sum(r["at_level"] for r in these) / len(these)}
    per_level: dict[str, Any] = {}
    for lvl in LEVELS[1:]:
        these = [r for r in rows if r["want"][1] == lvl and r["want"][0] != "none"]
        if these:
            per_level[lvl] = {
                "cases": len(these),
                "recall": sum(r["caught"] for r in these) / len(these),
                # urgent read as concern is caught but under-rated: the protocol differs
                "exact_level": sum(r["caught"] and r["level_ok"] for r in these) / len(these),
                "at_level": sum(r["at_level"] for r in these) / len(these)}
    risky = [r for r in rows if r["want"][0] != "none"]
    benign = [r for r in rows if r["want"][0] == "none"]
    return {
        "cases": len(rows),
        "risky_recall": sum(r["caught"] for r in risky) / len(risky) if risky else None,
        "at_level_recall": sum(r["at_level"] for r in risky) / len(risky) if risky else None,
        "false_alarm_rate": sum(r["false_alarm"] for r in benign) / len(benign) if benign else None,
        "benign": len(benign), "false_alarms": sum(r["false_alarm"] for r in benign),
        "asked_benign": sum(r["asked"] for r in benign),
        "per_category": per_cat, "per_level": per_level, "confusion": confusion,
        "misses": [r for r in risky if not r["caught"]],
        "under_rated": [r for r in risky if r["caught"] and not r["at_level"]],
        "false_alarm_cases": [r for r in benign if r["false_alarm"]],
        "asked_benign_cases": [r for r in benign if r["asked"]],
        "rows": rows,
    }


@dataclass(frozen=True)
class ConversationCase:
    id: str
    turns: list[str]
    category: str
    level: str
    note: str = ""


def load_conversation_cases(path: Path) -> list[ConversationCase]:
    """One JSON object per line: id, turns (the user's messages), category and level at the end."""
    return _labelled_rows(path, "turns", lambda row, n: ConversationCase(
        str(row.get("id", n)), [str(t) for t in row["turns"]], row["category"], row["level"],
        str(row.get("note", ""))))


def evaluate_conversations(cases: list[ConversationCase]) -> dict[str, Any]:
    """Screen each conversation's last message in the light of the earlier ones."""
    from ..safety import screen

    as_messages = [ScreenCase(c.id, c.turns[-1], c.category, c.level, c.note) for c in cases]
    got = [screen(c.turns[-1], c.turns[:-1]) for c in cases]
    return evaluate_screening(as_messages, got)


SETS = {"labelled": "screening", "holdout": "screening_holdout", "blind": "blind/risk_blind",
        "blind2": "blind/risk_blind2"}
CONVERSATION_SETS = {"blind_conversations": "blind/risk_blind_conversations",
                     "blind2_conversations": "blind/risk_blind2_conversations"}


def run_screening(limit: int | None = None) -> dict[str, Any]:
    """The labelled set, the hold-out set and the frozen blind sets, each reported apart."""
    folder = data_dir("evals")
    out: dict[str, Any] = {}
    for part, name in CONVERSATION_SETS.items():
        path = folder / f"{name}.jsonl"
        if path.exists():
            out[part] = evaluate_conversations(load_conversation_cases(path))
    for part, name in SETS.items():
        path = folder / f"{name}.jsonl"
        if not path.exists():
            continue
        cases = load_screen_cases(path)
        if limit and limit < len(cases):  # evenly spread, so every category stays in
            step = len(cases) / limit
            cases = [cases[int(i * step)] for i in range(limit)]
        out[part] = evaluate_screening(cases)
    if not out:
        raise InputError(f"{folder / 'screening.jsonl'}: file not found")
    return out
