"""The reading of each message: intent, role, facts, feelings; and the coach that listens."""

from __future__ import annotations

import json

import pytest

from coach.engine import Coach
from coach.reading import DATA, read


@pytest.mark.parametrize("text", [
    "are you a real person or a bot?", "Are you a licensed therapist?", "who sees what I write?",
    "is this chat saved anywhere", "who made you", "am i talking to an actual human",
])
def test_questions_about_the_coach_are_read_as_such(text):
    assert read(text).intent == "coach"


@pytest.mark.parametrize("text", [
    "Is my husband a narcissist? He lies all the time.", "am I being paranoid",
    "is this gaslighting?", "is she cheating on me",
])
def test_requests_for_a_label_are_read_as_such(text):
    assert read(text).intent == "label"


def test_questions_without_a_question_mark_still_ask():
    r = read("idk what to say to him when he asks why i'm upset")
    assert r.asks and r.question and r.wants_words


def test_facts_and_negated_feelings():
    r = read("I'm not angry, just tired. It happened three weeks ago and he says it's over")
    assert "tired" in r.feelings and "angry" not in r.feelings
    assert {"when", "ended"} <= set(r.facts)


def test_role_from_first_and_third_person_statements():
    assert read("I cheated on my wife last year and she found out").role == "broke_trust"
    assert read("My husband had an emotional affair with a coworker").role == "hurt_partner"


def test_held_out_accuracy_recorded_with_the_model_meets_its_floor():
    metrics = json.loads((DATA / "reading_model.json").read_text())["heldout"]
    assert metrics["messages"] >= 150
    assert metrics["intent_accuracy"] >= 0.8
    assert metrics["asks_recall"] >= 0.85 and metrics["asks_precision"] >= 0.9


# --- the coach, through the reading ----------------------------------------------------------


@pytest.fixture
def coach():
    c = Coach(llm="scripted", region="us")
    yield c
    c.close()


def test_identity_questions_get_honest_answers(coach):
    sid, welcome = coach.start_session()
    assert "AI coach" in welcome
    bot = coach.reply(sid, "are you a real person or a bot?").reply
    assert "not a person" in bot and "AI" in bot
    therapist = coach.reply(sid, "Are you a licensed therapist?").reply
    assert "not a therapist" in therapist
    privacy = coach.reply(sid, "who sees what I write?").reply
    assert "stays on this computer" in privacy and "delete" in privacy


def test_a_label_request_gets_an_honest_no_and_a_turn_to_behaviour(coach):
    sid, _ = coach.start_session()
    r = coach.reply(sid, "Is my husband a narcissist? He lies all the time.")
    assert "can't diagnose" in r.reply
    assert "narcissist" not in r.reply.lower()
    assert r.reply.count("?") == 1


def test_a_hurt_partner_never_gets_guidance_for_the_one_who_cheated(coach):
    sid, _ = coach.start_session()
    cited = []
    for text in ["My husband had an emotional affair with a coworker",
                 "When I try to talk to him I end up yelling and he shuts down",
                 "How will I know if he's actually changed?",
                 "I don't know if I can ever forgive him",
                 "what should I say when he asks me to just move on"]:
        r = coach.reply(sid, text)
        cited += [s["id"] for s in r.sources]
    cards = {c.id: c for c in coach.index.all_cards()}
    assert cited
    assert all(cards[c].fits_role("hurt_partner") for c in cited), cited
    assert "forgiving-yourself" not in cited


def test_a_question_is_answered_from_a_card_and_words_are_given_when_asked(coach):
    sid, _ = coach.start_session()
    coach.reply(sid, "I cheated on my girlfriend and she found out two weeks ago")
    r = coach.reply(sid, "She asks me the same questions about it again and again. What do I say?")
    assert r.sources, r.reply
    assert '"' in r.reply  # concrete words to use
    assert r.reply.count("?") <= 1


def test_a_fact_already_given_is_not_asked_again(coach):
    sid, _ = coach.start_session()
    first = coach.reply(sid, "My wife lied about money for a year, I found out three weeks ago")
    second = coach.reply(sid, "I feel stupid")
    for reply in (first.reply, second.reply):
        assert "How long has this been weighing on you" not in reply
        assert "tell me a little about what happened" not in reply.lower()


def test_replies_do_not_all_open_the_same_way(coach):
    sid, _ = coach.start_session()
    openers = []
    for text in ["My boyfriend lied about seeing his ex", "I feel hurt and stupid",
                 "I keep checking his location", "I want to trust him again",
                 "how do I bring it up without a fight", "I'm tired of feeling like this"]:
        openers.append(" ".join(coach.reply(sid, text).reply.split()[:3]))
    assert max(openers.count(o) for o in openers) <= 0.4 * len(openers) + 1, openers


def test_the_reading_is_stored_with_the_turn(coach):
    sid, _ = coach.start_session()
    coach.reply(sid, "is it normal to still feel this after a year?")
    user_turn = [t for t in coach.store.turns(sid) if t.role == "user"][-1]
    assert user_turn.safety["reading"]["intent"] == "info"
    assert user_turn.safety["reading"]["question"] is True
