"""Safety protocol replies: what a person in danger sees, with no LLM involved."""

from __future__ import annotations

import re

import pytest
import yaml

from coach.config import data_dir
from coach.errors import KnowledgeError
from coach.safety.output_rails import RailContext, check_reply
from coach.safety.protocols import safety_reply
from coach.safety.resources import REQUIRED_REGIONS, emergency_number, resources_for
from coach.safety.types import CATEGORIES, Screening

RISKY = [c for c in CATEGORIES if c != "none"]
COUPLES = re.compile(r"couple|joint session|together with (him|her|them)|confront|marriage "
                     r"counsel|relationship counsel|mediation", re.I)


def reply(category, level="concern", region="us", **context):
    return safety_reply(Screening(category, level), region, context or None)


def test_no_reply_when_nothing_was_found():
    assert safety_reply(Screening("none", "none"), "us") is None
    assert safety_reply(Screening(), "uk", {"turn": 3}) is None


@pytest.mark.parametrize("category", RISKY + ["none"])
@pytest.mark.parametrize("region", REQUIRED_REGIONS)
def test_urgent_first_line_names_the_emergency_number_and_a_line(category, region):
    r = reply(category, "urgent", region)
    first = r.text.splitlines()[0]
    assert emergency_number(region) in first
    assert r.stop_coaching
    assert "I'm here and we can keep talking once you're safe." in r.text
    if category != "medical_emergency":
        top = r.resources[0]
        assert top.short_name in first


def test_urgent_is_short():
    for category in RISKY:
        assert len(reply(category, "urgent").text.split()) < 170


def test_uk_user_gets_uk_numbers_not_us_ones():
    r = reply("self_harm", "urgent", "gb")
    assert "999" in r.text and "116 123" in r.text
    assert "988" not in r.text and "911" not in r.text


def test_unknown_region_points_to_local_emergency_and_directory():
    r = reply("self_harm", "urgent", "narnia")
    assert r.text.splitlines()[0].count("local emergency number") == 1
    assert "findahelpline.com" in r.text


@pytest.mark.parametrize("step,words", [(0, "thoughts of ending your life"),
                                        (1, "plan"), (2, "act on these thoughts soon")])
def test_self_harm_concern_asks_exactly_one_direct_question(step, words):
    r = reply("self_harm", region="au", self_harm_step=step)
    assert r.text.count("?") == 1
    question = [s for s in re.split(r"(?<=[.?!])\s+", r.text) if s.endswith("?")][0]
    assert words in question
    assert r.stop_coaching
    assert "13 11 14" in r.text and "000" in r.text


@pytest.mark.parametrize("level", ["concern", "urgent"])
@pytest.mark.parametrize("region", REQUIRED_REGIONS)
def test_abuse_reply_never_mentions_couples_work_and_offers_quick_exit(level, region):
    for turn in range(3):
        r = reply("abuse", level, region, turn=turn)
        assert not COUPLES.search(r.text), r.text
        assert r.quick_exit and r.stop_coaching
        assert "Quick exit" in r.text and "browser history" in r.text
        assert any("abuse" in s.serves for s in r.resources)


def test_abuse_concern_believes_validates_and_names_control():
    r = reply("abuse", region="ie")
    assert "not your fault" in r.text or "not something you caused" in r.text
    assert "signs of control" in r.text
    assert "1800 341 900" in r.text and "112" in r.text


def test_surveillance_declines_explains_and_redirects():
    r = reply("surveillance", region="nz")
    text = r.text.lower()
    assert "can't help" in text or "not able to help" in text
    assert "against the law" in text and "abuse" in text
    assert '"i feel"' in text and "honest conversation" in text
    assert not r.stop_coaching and not r.quick_exit


def test_surveillance_after_abuse_keeps_the_quick_exit():
    r = reply("surveillance", region="uk", abuse_raised=True)
    assert r.quick_exit and "Quick exit" in r.text


@pytest.mark.parametrize("category,region,number", [
    ("child_safety", "uk", "0808 800 5000"), ("child_safety", "us", "1-800-422-4453"),
    ("harm_to_others", "ca", "988"), ("medical_emergency", "uk", "111"),
])
def test_other_concerns_give_emergency_number_and_the_relevant_service(category, region, number):
    r = reply(category, region=region)
    assert emergency_number(region) in r.text and number in r.text
    assert r.stop_coaching


@pytest.mark.parametrize("category", RISKY)
@pytest.mark.parametrize("level", ["concern", "urgent"])
def test_protocol_wording_passes_the_output_rails(category, level):
    for turn in range(2):
        r = reply(category, level, "us", turn=turn)
        verdict = check_reply(r.text, RailContext(abuse_raised=True))
        assert verdict.ok, verdict.details


def test_variants_are_deterministic_by_turn():
    a = reply("abuse", turn=4).text
    assert a == reply("abuse", turn=4).text
    assert a != reply("abuse", turn=5).text


def test_resources_on_the_reply_match_the_region():
    r = reply("abuse", region="au")
    assert r.resources and all(s.region == "au" for s in r.resources)
    assert r.resources[0] == resources_for("au", "abuse")[0]
    assert (r.category, r.level) == ("abuse", "concern")


def test_missing_wording_file_fails_loudly(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_PROMPTS_DIR", str(tmp_path))
    with pytest.raises(KnowledgeError, match=r"abuse.yaml: file not found"):
        reply("abuse")


def _redteam_safety_expectations():
    data = yaml.safe_load((data_dir("evals") / "redteam.yaml").read_text(encoding="utf-8"))
    for case in data["cases"]:
        n = len(case["turns"])
        abuse_turns = [e.get("turn", -1) % n for e in case["expect"]
                       if e.get("category") == "abuse"]
        for exp in case["expect"]:
            if exp.get("category", "none") in ("none", None) and "level" not in exp:
                continue
            turn = exp.get("turn", -1) % n
            abuse_before = any(t <= turn for t in abuse_turns)
            yield pytest.param(case.get("region", "international"), exp, abuse_before,
                               id=f"{case['name']}@{turn}")


@pytest.mark.parametrize("region,exp,abuse_before", list(_redteam_safety_expectations()))
def test_protocol_replies_meet_redteam_expectations(region, exp, abuse_before):
    """Given the screening the red-team case expects, the protocol reply meets the case."""
    category = exp.get("category", "self_harm")
    level = exp.get("level", "concern")
    r = safety_reply(Screening(category, level), region, {"abuse_raised": abuse_before})
    assert r is not None
    for words in exp.get("must_include", []):
        assert words in r.text, words
    for words in exp.get("must_not_include", []):
        assert words.lower() not in r.text.lower(), words
    if "quick_exit" in exp:
        assert r.quick_exit == exp["quick_exit"]
    if "stop_coaching" in exp:
        assert r.stop_coaching == exp["stop_coaching"]
    if exp.get("must_include_resources"):
        assert r.resources and r.resources[0].markdown() in r.text
    verdict = check_reply(r.text, RailContext(abuse_raised=abuse_before))
    assert verdict.ok and not set(exp.get("forbid", [])) & set(verdict.violations)
