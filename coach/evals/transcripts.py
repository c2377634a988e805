"""Score conversations another chatbot had: the safety rubric per conversation, house style apart.

There are no labels in an outside transcript, so the coach's own screener reads each user
message (with the history before it) to decide where risk is. `violations` lists harm only:
the rubric dimensions a conversation does not meet (`coach.evals.rubric`). House style (one
question per turn, length, a reflective opener) is reported under `style_findings` and counted
as a failure only with `style="strict"`.
"""

from __future__ import annotations

from typing import Any, Callable

from ..safety import screen
from .bots import TurnRecord
from .cases import Transcript
from .checks import TurnCase, run_checks, transcript_checks
from .replay import summarise
from .rubric import DIMENSIONS, score_rubric

STYLE_CHECKS = ("one_question", "length", "reflection")
STYLE_MODES = ("report", "strict")


def score_transcript(t: Transcript, judge: Any = None, style: str = "report",
                     rubric_judge: Any = None) -> dict[str, Any]:
    """The rubric's verdicts, every turn's house checks, and the harm found (`violations`)."""
    checks = transcript_checks()
    history: list[str] = []
    abuse = False
    turns = []
    screenings = []
    for i, (user, reply) in enumerate(t.turns):
        s = screen(user, history)
        screenings.append(s)
        abuse = abuse or s.category == "abuse"
        case = TurnCase(t.conversation, i, {}, [], abuse,
                        s.category if s.level != "none" else "none", "screener")
        rec = TurnRecord(i, user, reply, list(history))
        outcomes = run_checks(checks, case, rec)
        row = {"index": i, "user": user, "reply": reply,
               "screening": {"category": s.category, "level": s.level},
               "checks": [o.to_dict() for o in outcomes]}
        if judge is not None:
            row["judge"] = judge.rate(history, user, reply)
        turns.append(row)
        history.append(user)
    verdicts = score_rubric(list(t.turns), screenings)
    style_findings = sorted({c["check"] for row in turns for c in row["checks"]
                             if not c["passed"] and c["check"] in STYLE_CHECKS})
    harm = [d for d in DIMENSIONS if verdicts[d].verdict == "not_met"]
    out = {"conversation": t.conversation,
           "violations": harm + (style_findings if style == "strict" else []),
           "rubric": {d: v.to_dict() for d, v in verdicts.items()},
           "style_findings": style_findings,
           "failed_checks": sorted({c["check"] for row in turns for c in row["checks"]
                                    if not c["passed"]}),
           "turns": turns}
    if rubric_judge is not None:
        out["rubric_judge"] = rubric_judge.rate_conversation(list(t.turns))
    return out


def rubric_summary(convs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per dimension: met / not met / not applicable counts, pass rate and severities."""
    out: dict[str, Any] = {}
    for d in DIMENSIONS:
        row = {"met": 0, "not_met": 0, "na": 0, "high": 0, "medium": 0, "low": 0}
        for c in convs:
            v = c["rubric"][d]
            row[v["verdict"]] += 1
            if v["verdict"] == "not_met":
                row[v.get("severity") or "medium"] += 1
        applied = row["met"] + row["not_met"]
        row["pass_rate"] = row["met"] / applied if applied else None
        out[d] = row
    return out


def judge_agreement(convs: list[dict[str, Any]]) -> dict[str, Any]:
    """How often the optional judge's verdict equals the offline one, per dimension."""
    out: dict[str, Any] = {}
    for d in DIMENSIONS:
        pairs = [(c["rubric"][d]["verdict"], c["rubric_judge"]["verdicts"][d])
                 for c in convs if c.get("rubric_judge", {}).get("verdicts")]
        if pairs:
            out[d] = {"rated": len(pairs), "agree": sum(a == b for a, b in pairs),
                      "agreement": sum(a == b for a, b in pairs) / len(pairs)}
    return out


def score_transcripts(transcripts: list[Transcript], judge: Any = None,
                      progress: Callable[[str], None] | None = None, style: str = "report",
                      rubric_judge: Any = None) -> dict[str, Any]:
    convs = []
    for n, t in enumerate(transcripts, 1):
        convs.append(score_transcript(t, judge, style, rubric_judge))
        if progress:
            progress(f"transcripts {n}/{len(transcripts)} {t.conversation}")
    summary = summarise(convs)
    summary["rubric"] = rubric_summary(convs)
    summary["style"] = {k: v for k, v in summary["checks"].items() if k in STYLE_CHECKS}
    summary["style_mode"] = style
    summary["with_harm"] = sum(1 for c in convs
                               if any(c["rubric"][d]["verdict"] == "not_met" for d in DIMENSIONS))
    summary["cases_all_passed"] = sum(1 for c in convs if not c["violations"])
    if rubric_judge is not None:
        summary["rubric_judge_agreement"] = judge_agreement(convs)
    return {"summary": summary, "conversations": convs}
