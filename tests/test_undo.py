"""Undo, retry and edit of the last message: the conversation goes back to where it was, the
taken-back turns are kept (marked superseded, out of exports), and safety is never rolled back.
Runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json

import pytest

from coach.engine import Coach
from coach.errors import InputError
from coach.store import SessionStore
from pg import pg_server, pg_url  # noqa: F401  (shared PostgreSQL fixtures)

pytestmark = pytest.mark.usefixtures("ready_index")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def coach(request, coach_home):
    url = (request.getfixturevalue("pg_url") if request.param == "postgres"
           else f"sqlite:///{coach_home / 'undo.db'}")
    store = SessionStore(url)
    c = Coach(llm="scripted", store=store, region="us")
    yield c
    c.close()
    store.close()


def _texts(coach, sid):
    return [(t.role, t.text) for t in coach.history(sid)]


def test_undo_takes_back_the_last_message_and_restores_the_session(coach):
    sid, _ = coach.start_session()
    coach.reply(sid, "My wife had an affair last year and I found out from her phone")
    kept = _texts(coach, sid)
    state = coach.store.get_state(sid)
    coach.reply(sid, "I check her phone every night now and I hate it")
    assert coach.undo(sid) == "I check her phone every night now and I hate it"
    assert _texts(coach, sid) == kept
    restored = coach.store.get_state(sid)
    assert restored["stage"] == state["stage"] and restored["user_turns"] == state["user_turns"]
    assert restored["used_cards"] == state["used_cards"]
    # kept in the store, out of the conversation, its export, and the session list
    everything = coach.store.turns(sid, include_superseded=True)
    assert [t.superseded for t in everything][-2:] == [True, True]
    exported = json.loads(coach.export(sid, "json"))
    assert "every night" not in json.dumps(exported)
    assert "every night" not in coach.export(sid, "md")
    assert next(i for i in coach.list_sessions() if i.id == sid).turns == len(kept)
    # the next message carries on from the restored state
    again = coach.reply(sid, "I feel numb most days")
    assert again.reply and _texts(coach, sid)[-2] == ("user", "I feel numb most days")


def test_retry_answers_the_same_message_again(coach):
    sid, _ = coach.start_session()
    first = coach.reply(sid, "What could I say to him when I feel the panic coming?")
    events = list(coach.retry(sid))
    again = events[-1]
    assert again.user == first.user and again.reply
    assert again.turn > first.turn  # a new turn; the old one is kept, superseded
    turns = _texts(coach, sid)
    assert turns.count(("user", first.user)) == 1 and turns[-1] == ("assistant", again.reply)


def test_edit_replaces_the_last_message(coach):
    sid, _ = coach.start_session()
    coach.reply(sid, "My boyfriend lied about where he was on friday")
    result = list(coach.edit(sid, "My boyfriend lied about where he was on saturday"))[-1]
    assert result.user.endswith("saturday")
    assert [t for r, t in _texts(coach, sid) if r == "user"] == [result.user]
    with pytest.raises(InputError):
        list(coach.edit(sid, "   "))


def test_nothing_to_undo_is_a_plain_error(coach):
    sid, _ = coach.start_session()
    with pytest.raises(InputError, match="no message to take back"):
        coach.undo(sid)


def test_undo_never_rolls_back_safety(coach):
    sid, _ = coach.start_session()
    coach.reply(sid, "My husband and I keep fighting about his ex")
    crisis = coach.reply(sid, "he hit me last night and said he'd do worse if I ever left")
    assert crisis.resources
    coach.undo(sid)
    state = coach.store.get_state(sid)
    assert state["abuse_raised"] is True  # the coach still never suggests couples work
    events = coach.store.safety_events(sid)
    assert any(e.category == "abuse" for e in events)  # the audit trail keeps what was said
    after = coach.reply(sid, "should we try couples counseling?")
    # still answered as a conversation where abuse came up: no couples work, services in reach
    assert after.route == "safety_follow_up" and after.resources
    assert "isn't recommended" in after.reply
