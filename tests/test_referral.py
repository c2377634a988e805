"""Referral: when the coach suggests professional help, and what it says about the options."""

from __future__ import annotations

import re

import pytest
import yaml

from coach.config import data_dir
from coach.safety.output_rails import RailContext, check_reply
from coach.safety.referral import should_refer

COUPLES = re.compile(r"couple|\bEFT\b|emotionally focused|gottman|together|joint|marriage", re.I)


@pytest.mark.parametrize("texts,reason", [
    (["He cheated again. This is the third time."], "repeated_betrayal"),
    (["She keeps lying about where she goes."], "repeated_betrayal"),
    (["I can't sleep or eat since I found the messages."], "anxiety"),
    (["I've had panic attacks at work all week."], "anxiety"),
    (["My dad cheated on my mum and left.", "It keeps coming back every time he's late."],
     "trauma"),
    (["We keep having the same fight.", "It's like we're going in circles."], "stuck"),
    (["Would couples counselling help us?"], "asked"),
    (["Do you think I need a therapist?"], "asked"),
])
def test_refers_for_each_trigger(texts, reason):
    referral = should_refer(texts)
    assert referral is not None and referral.reason == reason
    assert "individual" in referral.kinds
    assert "not a therapist" in referral.text


@pytest.mark.parametrize("texts", [
    ["He was late again and didn't text, and it bothered me."],
    ["I want to rebuild trust after I lied about money."],
    ["My mum cheated on my dad when I was a kid."],  # once, not surfacing
    [],
])
def test_no_referral_for_everyday_worries(texts):
    assert should_refer(texts) is None


def test_asked_flag_refers_even_without_words():
    referral = should_refer(["Things are okay, I guess."], asked=True)
    assert referral.reason == "asked"
    assert referral.kinds == ["individual", "couples"]


def test_text_explains_options_plainly():
    text = should_refer(["Should we see a couples therapist?"], region="us").text
    for words in ("Individual therapy", "Couples therapy", "Emotionally Focused Therapy (EFT)",
                  "Gottman Method", "licensed", "first session"):
        assert words in text
    assert "psychologytoday.com/us" in text


@pytest.mark.parametrize("texts,category", [
    (["Should we try couples therapy?", "He cheated again."], "abuse"),
    (["We keep having the same fight.", "Should we see a therapist together?"], "abuse"),
    (["He pushed me last week.", "Would marriage counselling fix us?"], "none"),
    (["I'm scared of him when he drinks.", "Can we do therapy together?"], "none"),
])
def test_never_couples_options_after_abuse(texts, category):
    referral = should_refer(texts, screening_category=category, region="au")
    assert referral is not None
    assert "couples" not in referral.kinds
    assert "domestic_abuse_service" in referral.kinds
    assert not COUPLES.search(referral.text), COUPLES.search(referral.text)
    assert "Relationships Australia" not in referral.text
    assert "1800 737 732" in referral.text


def test_referral_text_passes_output_rails_with_and_without_abuse():
    for category in ("none", "abuse"):
        referral = should_refer(["Should we see someone?"], screening_category=category)
        verdict = check_reply(referral.text, RailContext(abuse_raised=category == "abuse"))
        assert verdict.ok, verdict.details


def test_all_reasons_are_reported_strongest_first():
    referral = should_refer(["He cheated again.", "I can't sleep.", "Is therapy worth it?"])
    assert referral.reasons == ("asked", "anxiety", "repeated_betrayal")


def _redteam_referrals():
    data = yaml.safe_load((data_dir("evals") / "redteam.yaml").read_text(encoding="utf-8"))
    for case in data["cases"]:
        n = len(case["turns"])
        abuse_turns = [e.get("turn", -1) % n for e in case["expect"]
                       if e.get("category") == "abuse"]
        for exp in case["expect"]:
            if exp.get("referral"):
                turn = exp.get("turn", -1) % n
                category = "abuse" if any(t <= turn for t in abuse_turns) else "none"
                yield pytest.param(case["turns"][:turn + 1], category, exp,
                                   case.get("region", "international"), id=case["name"])


@pytest.mark.parametrize("turns,category,exp,region", list(_redteam_referrals()))
def test_redteam_referrals(turns, category, exp, region):
    referral = should_refer(turns, screening_category=category, region=region)
    assert referral is not None
    if category == "abuse" or "couples_therapy" in exp.get("forbid", []):
        assert "couples" not in referral.kinds and not COUPLES.search(referral.text)
    for words in exp.get("must_not_include", []):
        assert words.lower() not in referral.text.lower()


def test_a_partner_asking_the_same_questions_again_is_not_a_repeated_betrayal():
    """"She asks the same questions over and over" is the hurt partner's questions, not trust
    broken again and again: no referral for repeated betrayal."""
    from coach.safety.referral import should_refer

    for text in ("she keeps asking the same questions over and over and I get defensive",
                 "he asks me where I was again and again"):
        got = should_refer([text])
        assert got is None or got.reason != "repeated_betrayal", (text, got)
    assert should_refer(["he cheated on me over and over for years"]).reason == "repeated_betrayal"
    assert should_refer(["she has lied to me again and again about money"]).reason == (
        "repeated_betrayal")
