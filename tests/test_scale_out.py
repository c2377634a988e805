"""Past one machine: PostgreSQL for sessions, a Chroma server for guidance, several app processes."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import COACH, child_env
from pg import pg_server, pg_url  # noqa: F401  (shared PostgreSQL fixtures)
from test_chroma_server import chroma_server  # noqa: F401  (a real `chroma run`)

from coach.engine import Coach
from coach.store import SessionStore

pytestmark = [pytest.mark.slow, pytest.mark.server]

FIRST = ["I found out my husband has been texting his ex and I feel sick about it",
         "He says it meant nothing but he hid it for months"]
SECOND = ["I keep checking his phone when he's asleep and I hate myself for it",
          "Maybe we should agree on what openness looks like for both of us"]


@pytest.mark.usefixtures("ready_index")
def test_a_full_chat_against_postgresql(pg_url, coach_home):  # noqa: F811
    store = SessionStore(pg_url)
    coach = Coach(llm="scripted", store=store)
    sid, _ = coach.start_session(history_opt_in=True)
    results = [coach.reply(sid, text) for text in FIRST + SECOND]
    assert [r.turn for r in results] == [1, 3, 5, 7]
    assert results[-1].stage != "welcome" and any(r.sources for r in results)
    assert "texting his ex" in store.export(sid, "md")
    coach.close()
    with SessionStore(pg_url) as again:  # another process would see exactly this
        turns = again.turns(sid)
        assert len(turns) == 9 and all(t.status == "done" for t in turns)
        assert again.get_state(sid)["user_turns"] == 4
    assert not (coach_home / "coach.db").exists()  # nothing went to the local SQLite file


def _chat(env: dict, lines: list[str], tmp_path, name: str, session: str | None = None):
    script = tmp_path / f"{name}.txt"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cmd = [COACH, "chat", "--llm", "scripted", "--script", str(script), "--json"]
    if session:
        cmd += ["--session", session]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_a_session_moves_between_two_app_processes(pg_url, chroma_server, coach_home,  # noqa: F811
                                                   tmp_path):
    env = child_env(COACH_DB_URL=pg_url, COACH_CHROMA_URL=chroma_server)
    built = subprocess.run([COACH, "ingest"], capture_output=True, text=True, timeout=300, env=env)
    assert built.returncode == 0, built.stderr
    # Two app "machines": separate processes with their own (empty) COACH_HOME each.
    first_env = {**env, "COACH_HOME": str(tmp_path / "app1")}
    second_env = {**env, "COACH_HOME": str(tmp_path / "app2")}
    first = _chat(first_env, FIRST, tmp_path, "first")
    session = first[0]["session"]
    with SessionStore(pg_url) as store:
        stage_after_first = store.get_session(session).stage
        state_after_first = store.get_state(session)
    second = _chat(second_env, SECOND, tmp_path, "second", session=session)
    assert {r["session"] for r in second} == {session}
    assert [r["turn"] for r in first + second] == [1, 3, 5, 7]  # numbering carries on
    assert second[0]["stage"] not in ("welcome",)
    with SessionStore(pg_url) as store:
        state = store.get_state(session)
        turns = store.turns(session)
    assert state["user_turns"] == state_after_first["user_turns"] + 2  # flow state carried on
    assert set(state_after_first["visited"]) <= set(state["visited"])
    assert stage_after_first in state["visited"] or stage_after_first == "understand"
    assert [t.text for t in turns if t.role == "user"] == FIRST + SECOND
    assert any(r["sources"] for r in first + second)  # guidance came from the Chroma server
    for home in ("app1", "app2"):  # nothing private was kept on the app machines
        assert not (tmp_path / home / "coach.db").exists()
        assert not (tmp_path / home / "chroma").exists()
