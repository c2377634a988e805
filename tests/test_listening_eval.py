"""The listening suite: blind conversations replayed through the coach, measured per turn."""

from __future__ import annotations

import json
import subprocess

from conftest import COACH, child_env

from coach.evals.listening import judge_turn, load_cases, run_listening
from coach.turn import TurnResult


def _result(reply: str, sources=()) -> TurnResult:
    return TurnResult(session="s", turn=1, user="u", reply=reply, stage="communication",
                      sources=[{"id": s, "title": s, "stage": "communication"} for s in sources],
                      safety={}, referral=False, backend="scripted", quick_exit=False,
                      resources=[], notice="", plan=[], plan_agreed=False)


def test_the_frozen_set_loads():
    cases = load_cases()
    assert len(cases) >= 36 and sum(len(c["turns"]) for c in cases) >= 300


def test_judge_spots_a_re_asked_fact_and_an_unanswered_question():
    turn = {"text": "how long will this take", "intent": "info", "question": True,
            "known": ["when", "event"]}
    bad = judge_turn(turn, _result("That sounds hard.\n\nHow long has this been weighing on you?"),
                     "hurt_partner", {})
    assert bad["reasked"] == ["when"] and bad["answered"] is False
    good = judge_turn(turn, _result("It often takes many months.\n\nWhat helps most today?",
                                    ["trust-takes-months"]), "hurt_partner", {})
    assert good["reasked"] == [] and good["answered"] is True


def test_identity_answers_must_be_true():
    turn = {"text": "are you a bot", "intent": "coach", "question": True}
    assert not judge_turn(turn, _result("I'm here to help you."), "doubts", {})["answered"]
    honest = "No, I'm not a person. I'm an AI coach, not a therapist."
    assert judge_turn(turn, _result(honest), "doubts", {})["answered"]


def test_a_short_run_reports_every_measure():
    r = run_listening("scripted", limit=3)
    for key in ("questions_answered", "reasked_facts", "wrong_audience_citations",
                "identity_honest", "top_opener_share", "reading_intent_accuracy"):
        assert key in r
    assert r["cases"] == 3 and r["turns"] >= 15 and r["questions"] >= 9


def test_coach_eval_listening_from_the_command_line(tmp_path):
    out = subprocess.run([COACH, "eval", "listening", "--limit", "2", "--json", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=600,
                         env=child_env())
    assert out.returncode == 0, out.stderr
    scores = json.loads(out.stdout)["listening"]["scripted"]
    assert scores["cases"] == 2 and "questions_answered" in scores
    assert "## Listening (scripted)" in (tmp_path / "report.md").read_text()
