"""`coach sessions` as a person (or a script) runs it: real processes, a real database file."""

from __future__ import annotations

import json
import os
import pty
import stat
import subprocess
import sys

import pytest

from coach.store import SessionStore


@pytest.fixture
def env(tmp_path):
    environ = {k: v for k, v in os.environ.items() if k != "COACH_DB_URL"}
    environ["COACH_HOME"] = str(tmp_path / "home")
    return environ


@pytest.fixture
def saved(env, monkeypatch):
    """Two saved sessions; returns their ids (the one with a plan and sources first)."""
    monkeypatch.setenv("COACH_HOME", env["COACH_HOME"])
    monkeypatch.delenv("COACH_DB_URL", raising=False)
    with SessionStore() as store:
        a = store.create_session(title="After the texts")
        store.add_user_turn(a.id, "I saw texts I wasn't meant to see.")
        store.add_assistant_turn(a.id, "That must have been a shock.",
                                 sources=[{"title": "Discovery", "source": "seed-1.txt"}])
        store.set_plan(a.id, ["Pick a calm time to talk"], agreed=True)
        b = store.create_session(title="Feeling jealous\nagain")
        store.add_user_turn(b.id, "I keep checking where he is.")
    return a.id, b.id


def coach(env, *args, stdin=subprocess.DEVNULL):
    return subprocess.run([sys.executable, "-m", "coach.cli", "sessions", *args], env=env,
                          stdin=stdin, capture_output=True, text=True, timeout=60)


def test_list_prints_one_line_per_session(env, saved):
    a, b = saved
    result = coach(env, "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(b + "  ") and "Feeling jealous again" in lines[0]
    assert lines[0].endswith("1 turns")
    assert lines[1].startswith(a + "  ") and lines[1].endswith("2 turns")

    listed = json.loads(coach(env, "list", "--json").stdout)
    assert [(x["id"], x["turns"]) for x in listed] == [(b, 1), (a, 2)]


def test_list_with_nothing_saved_says_so_without_polluting_stdout(env):
    result = coach(env, "list")
    assert result.returncode == 0 and result.stdout == ""
    assert "No saved sessions" in result.stderr


def test_show_prints_a_readable_transcript(env, saved):
    result = coach(env, "show", saved[0])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "After the texts" in out
    assert out.index("You (") < out.index("I saw texts") < out.index("Coach (")
    assert "Sources: Discovery - seed-1.txt" in out and "Pick a calm time to talk" in out


def test_export_writes_markdown_or_json(env, saved, tmp_path):
    a, _ = saved
    md = coach(env, "export", a)
    assert md.returncode == 0 and "> I saw texts I wasn't meant to see." in md.stdout
    doc = json.loads(coach(env, "export", a, "--format", "json").stdout)
    assert doc["session"]["id"] == a and len(doc["turns"]) == 2

    target = tmp_path / "mine.md"
    result = coach(env, "export", a, "-o", str(target))
    assert result.returncode == 0 and result.stdout == ""
    assert "That must have been a shock." in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    # An existing file is never overwritten by accident...
    target.write_text("my own notes")
    clash = coach(env, "export", a, "-o", str(target))
    assert clash.returncode == 1 and "already exists" in clash.stderr
    assert target.read_text() == "my own notes"
    # ...only when asked.
    assert coach(env, "export", a, "--format", "json", "-o", str(target), "--force").returncode == 0
    assert json.loads(target.read_text())["session"]["id"] == a


def test_unknown_ids_fail_with_one_line(env, saved):
    for args in (["show", "does-not-exist"], ["export", "does-not-exist"],
                 ["delete", "does-not-exist", "--yes"]):
        result = coach(env, *args)
        assert result.returncode == 1, args
        assert result.stderr.count("\n") == 1 and "does-not-exist" in result.stderr
        assert "Traceback" not in result.stderr


def test_delete_without_a_terminal_needs_yes(env, saved):
    a, b = saved
    refused = coach(env, "delete", a)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert coach(env, "show", a).returncode == 0  # still there

    done = coach(env, "delete", a, "--yes")
    assert done.returncode == 0, done.stderr
    assert coach(env, "show", a).returncode == 1
    assert [json.loads(coach(env, "list", "--json").stdout)[0]["id"]] == [b]


@pytest.mark.parametrize("answer, deleted", [("n\n", False), ("y\n", True)])
def test_delete_on_a_terminal_asks_first(env, saved, answer, deleted):
    a, _ = saved
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "coach.cli", "sessions", "delete", a],
                            env=env, stdin=follower, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        # Answer only once the question is on screen, as a person would.
        prompt = b""
        while b"[y/N]" not in prompt:
            chunk = os.read(proc.stdout.fileno(), 1024)
            if not chunk:
                break
            prompt += chunk
        os.write(leader, answer.encode())
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        os.close(leader)
        os.close(follower)
    assert b"cannot be undone" in prompt, err
    assert proc.returncode == (0 if deleted else 1)
    assert (coach(env, "show", a).returncode == 1) is deleted
