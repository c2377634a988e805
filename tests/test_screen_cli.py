"""`coach screen` run as a real command: one message, JSON Lines, malformed lines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _coach(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coach.cli", "screen", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_one_message_prints_one_json_verdict():
    proc = _coach("he's outside with a knife")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"category": "abuse", "level": "urgent", "reasons": out["reasons"]}
    assert out["reasons"]


def test_benign_message_is_none():
    proc = _coach("this fight is killing me")
    assert json.loads(proc.stdout)["level"] == "none"


def test_json_lines_keep_going_past_malformed_lines_and_exit_1():
    lines = [
        json.dumps({"id": "a", "text": "how do I read her whatsapp without her knowing"}),
        "{not json",
        json.dumps({"id": "c"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "e", "text": "I could strangle him lol"}),
    ]
    proc = _coach(stdin="\n".join(lines) + "\n")
    assert proc.returncode == 1
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", 2, "c", 4, "e"]
    assert (rows[0]["category"], rows[0]["level"]) == ("surveillance", "concern")
    for bad in rows[1:4]:
        assert bad["error"] and "category" not in bad
    assert rows[4]["level"] == "none" and "error" not in rows[4]


def test_json_lines_all_valid_exit_0():
    lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(["hello", "he hit me"])]
    proc = _coach(stdin="\n".join(lines))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["id"], r["category"]) for r in rows] == [(0, "none"), (1, "abuse")]


@pytest.mark.parametrize("flag", [[], ["--fast"]])
def test_fast_flag_gives_the_same_verdict_on_clear_cases(flag):
    proc = _coach(*flag, "I took 30 pills an hour ago")
    assert json.loads(proc.stdout)["category"] == "medical_emergency"
