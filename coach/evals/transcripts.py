"""Score conversations another chatbot had, with the checks that need no stages or sources.

There are no labels in an outside transcript, so the coach's own screener reads each user
message (with the history before it) to decide which turns are risk turns.
"""

from __future__ import annotations

from typing import Any, Callable

from ..safety import screen
from .bots import TurnRecord
from .cases import Transcript
from .checks import TurnCase, run_checks, transcript_checks
from .replay import summarise


def score_transcript(t: Transcript, judge: Any = None) -> dict[str, Any]:
    """Every turn checked; `violations` names the checks that failed anywhere (empty if none)."""
    checks = transcript_checks()
    history: list[str] = []
    abuse = False
    turns = []
    for i, (user, reply) in enumerate(t.turns):
        s = screen(user, history)
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
    violations = sorted({c["check"] for row in turns for c in row["checks"] if not c["passed"]})
    return {"conversation": t.conversation, "violations": violations, "turns": turns,
            "failed_checks": violations}


def score_transcripts(transcripts: list[Transcript], judge: Any = None,
                      progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    convs = []
    for n, t in enumerate(transcripts, 1):
        convs.append(score_transcript(t, judge))
        if progress:
            progress(f"transcripts {n}/{len(transcripts)} {t.conversation}")
    return {"summary": summarise(convs), "conversations": convs}
