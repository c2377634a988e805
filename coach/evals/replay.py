"""Replay scenarios through a system under test and score every turn; sum up per check."""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

from ..errors import CoachError
from .bots import Bot, TurnRecord
from .cases import Scenario
from .checks import Check, TurnCase, run_checks

log = logging.getLogger("coach.evals")
Progress = Callable[[str], None]


def turn_case(s: Scenario, i: int, abuse_seen: bool) -> TurnCase:
    """What turn i of a scenario must satisfy, from its labels."""
    e = s.expectations_for(i)
    forbid = s.forbid_from(i)
    abuse = abuse_seen or s.abuse_by(i) or "couples_therapy" in forbid
    final = s.final_expectations() if i == len(s.turns) - 1 else {}
    return TurnCase(s.name, i, e, forbid, abuse, str(e.get("category") or "none"), "labels", final)


def replay(bot: Bot, scenario: Scenario, checks: list[Check], judge: Any = None) -> dict[str, Any]:
    """One session per scenario; every turn answered, checked and (with a judge) rated."""
    system = bot.system
    sid, _welcome = system.start_session(region=scenario.region)
    prev = "welcome" if bot.kind == "coach" else None
    history: list[str] = []
    turns = []
    abuse_seen = False
    for i, text in enumerate(scenario.turns):
        try:
            r = system.reply(sid, text)
            rec = TurnRecord.from_result(r, bot.kind, i, history, scenario.region, prev)
        except CoachError as exc:  # a backend failure is a finding, not a crash of the run
            rec = TurnRecord(i, text, "", list(history), scenario.region, error=str(exc))
        if rec.safety and rec.safety.get("category") == "abuse":
            abuse_seen = True
        case = turn_case(scenario, i, abuse_seen)
        outcomes = run_checks(checks, case, rec) if not rec.error else []
        row = {**rec.to_dict(), "expect": case.expect, "checks": [o.to_dict() for o in outcomes]}
        if judge is not None and not rec.error:
            row["judge"] = judge.rate(history, text, rec.reply)
        turns.append(row)
        history.append(text)
        prev = rec.stage if rec.stage is not None else prev
    failed = sorted({c["check"] for t in turns for c in t["checks"] if not c["passed"]})
    if any(t.get("error") for t in turns):
        failed.append("no_reply")  # an unanswered turn is not a passed case
    return {"name": scenario.name, "region": scenario.region, "metadata": scenario.metadata,
            "turns": turns, "failed_checks": failed,
            "errors": [t["error"] for t in turns if t.get("error")]}


def summarise(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Per check: turns it applied to, passed, pass rate, mean score; judge means; errors."""
    by: dict[str, dict[str, Any]] = {}
    judge: dict[str, list[float]] = {}
    turns = errors = 0
    for case in cases:
        for t in case["turns"]:
            turns += 1
            errors += bool(t.get("error"))
            for c in t["checks"]:
                s = by.setdefault(c["check"], {"applied": 0, "passed": 0, "scores": []})
                s["applied"] += 1
                s["passed"] += bool(c["passed"])
                if "score" in c:
                    s["scores"].append(c["score"])
                for k in ("sentences", "supported", "kb_supported"):
                    if k in c:
                        s[k] = s.get(k, 0) + c[k]
            for k, v in (t.get("judge") or {}).get("scores", {}).items():
                judge.setdefault(k, []).append(v)
    checks = {}
    for name, s in by.items():
        row = {"applied": s["applied"], "passed": s["passed"],
               "rate": s["passed"] / s["applied"] if s["applied"] else None}
        if s["scores"]:
            row["mean_score"] = sum(s["scores"]) / len(s["scores"])
        for k in ("sentences", "supported", "kb_supported"):
            if k in s:
                row[k] = s[k]
        if "sentences" in s and s["sentences"]:
            row["sentence_support"] = s["supported"] / s["sentences"]
            if "kb_supported" in s:
                row["kb_sentence_support"] = s["kb_supported"] / s["sentences"]
        checks[name] = row
    out: dict[str, Any] = {"cases": len(cases), "turns": turns, "errors": errors,
                           "cases_all_passed": sum(not c["failed_checks"] for c in cases),
                           "checks": checks}
    if judge:
        out["judge"] = {k: sum(v) / len(v) for k, v in judge.items()}
        out["judge_rated"] = max(len(v) for v in judge.values())
    return out


def run_suite(bot: Bot, scenarios: Iterable[Scenario], checks: list[Check], judge: Any = None,
              progress: Progress | None = None, suite: str = "") -> dict[str, Any]:
    """Replay every scenario through one system; the cases and their summary."""
    scenarios = list(scenarios)
    cases = []
    for n, s in enumerate(scenarios, 1):
        cases.append(replay(bot, s, checks, judge))
        if progress:
            progress(f"{suite} [{bot.label}] {n}/{len(scenarios)} {s.name}")
    return {"system": bot.label, "summary": summarise(cases), "cases": cases}
