"""When to suggest professional help, and how to explain the options plainly.

Triggers, read from the user's own messages: repeated betrayal, old wounds that keep
surfacing, worry that takes over sleep/eating/work, a couple going in circles, or a question
about therapy. Couples options are never offered once abuse has come up (by the screener's
category or by plain signs in the messages), because joint sessions can put someone at risk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from coach.config import data_dir
from coach.errors import KnowledgeError
from coach.safety.resources import resources_for

_I = re.IGNORECASE

_ASKED = re.compile(
    r"\b(?:therap(?:y|ist|ists)|counsell?(?:ing|or|ors)|psychologist|professional help|"
    r"see (?:someone|a professional)|get help from someone|marriage guidance)\b", _I)
_REPEATED = re.compile(
    r"\b(?:cheated|lied|betrayed me|had an affair|strayed)\b[^.!?]{0,40}\bagain\b"
    r"|\b(?:second|third|fourth|another|multiple|several) "
    r"(?:affair|time (?:he|she|they) (?:cheated|"
    r"lied)|time i've been cheated)|\bkeeps? (?:cheating|lying|betraying)"
    r"|\b(?:cheated|cheating|lied|lying|betrayed|affairs?|strayed)\b[^.!?]{0,40}"
    r"\b(?:over and over|again and again)\b"  # the betrayal repeated, not the questions
    r"|\b(?:cheated|lied) (?:on me )?(?:twice|three times|so many times|more than once)"
    r"|\bnot the first time\b", _I)
_WOUND = re.compile(
    r"\b(?:my (?:dad|father|mum|mom|mother|parents|ex|last partner|first husband|first wife)"
    r"[^.!?]{0,30}\b(?:cheated|left|abandoned|lied|walked out|betrayed)|childhood"
    r"|abandon(?:ed|ment)"
    r"|trauma|traumati[sz]ed|flashbacks?|since i was (?:a kid|little|young)|old wounds?)\b", _I)
_SURFACING = re.compile(
    r"\b(?:keeps? coming back|can't get past|cannot get past|every time|always comes? back"
    r"|still haunts?|it all comes back|triggers? me|triggered)\b", _I)
_ANXIETY = re.compile(
    r"\b(?:can't|cannot|haven't been able to|unable to|barely) (?:sleep|eat|work|focus|"
    r"concentrate|function|get out of bed|stop thinking)|\bhaven't (?:slept|eaten)\b"
    r"|\bpanic attacks?\b|\b(?:missing|missed|lost my|off) work\b|\blost (?:\d+ )?(?:kg|kilos|"
    r"pounds|weight)\b|\bconsum(?:ed|ing) (?:me|my)|\bobsess(?:ed|ing|ive)\b|\ball day long\b"
    r"|\btaking over my life\b", _I)
_STUCK = re.compile(
    r"\b(?:going|go|went|goes) (?:round )?in circles|\bsame (?:fight|argument|conversation)"
    r"|\bstuck\b|\bnothing (?:changes|ever changes|has changed)|\btried everything\b"
    r"|\bwe can't talk about it without\b|\bkeep having the same\b", _I)
# Plain signs of abuse in the user's words: seen here too, so a missed screening can never
# lead to couples options. A false alarm only leaves couples options out, which is safe.
_ABUSE = re.compile(
    r"\b(?:hits? me|hit me|hurts? me|hurt me|pushed me|shoved me|chok(?:ed|es) me|strangled"
    r"|threaten(?:s|ed|ing)? (?:me|to)|(?:scared|afraid|frightened) of (?:him|her|them)"
    r"|won't let me (?:see|go|leave|have)|controls? (?:my|where|who|what)|takes? my (?:phone|"
    r"money|keys|car)|forced me|abus(?:e|es|ed|ive))\b", _I)


@dataclass(frozen=True)
class Referral:
    """A suggestion to see a professional: why, which kinds, and the words to show."""

    reason: str
    kinds: list[str]
    text: str
    reasons: tuple[str, ...] = ()


@lru_cache(maxsize=4)
def _wording(path: str, mtime: float) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    for key in ("intro", "options", "how_to_find", "first_session", "closing"):
        if not isinstance(data, dict) or not data.get(key):
            raise KnowledgeError(f"{path}: {key}: missing")
    return data


def _load() -> dict:
    path = data_dir("prompts") / "referral.yaml"
    try:
        return _wording(str(path), path.stat().st_mtime)
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: file not found (referral wording is required)") from None


def _count(pattern: re.Pattern, texts: Sequence[str]) -> int:
    return sum(1 for t in texts if pattern.search(t))


def referral_reasons(user_texts: Sequence[str], asked: bool = False) -> list[str]:
    """Every reason to suggest professional help found in the user's messages, strongest first."""
    texts = [t for t in user_texts if t]
    found = []
    if asked or _count(_ASKED, texts[-1:]):
        found.append("asked")
    if _count(_ANXIETY, texts):
        found.append("anxiety")
    wounds = _count(_WOUND, texts)
    if wounds >= 2 or (wounds and _count(_SURFACING, texts)):
        found.append("trauma")
    if _count(_REPEATED, texts):
        found.append("repeated_betrayal")
    if _count(_STUCK, texts):
        found.append("stuck")
    return found


def _kinds(reasons: list[str], abuse: bool) -> list[str]:
    if abuse:
        return ["individual", "domestic_abuse_service"]
    if any(r in ("asked", "repeated_betrayal", "stuck") for r in reasons):
        return ["individual", "couples"]
    return ["individual"]


def referral_text(reason: str, kinds: Sequence[str], region: str = "international") -> str:
    """The Markdown explanation of the options (couples parts only when 'couples' is a kind)."""
    data = _load()
    opts = data["options"]
    intro = data["intro"].get("abuse" if "domestic_abuse_service" in kinds else reason)
    lines = [f"- {opts['individual'].strip()}"]
    if "couples" in kinds:
        lines += [f"- {opts['couples'].strip()}", f"- {opts['methods'].strip()}"]
    if "domestic_abuse_service" in kinds:
        lines.append(f"- {opts['abuse_service'].strip()}")
    find = data["how_to_find"].strip()
    directories = [r for r in resources_for(region, "therapy")
                   if "domestic_abuse_service" not in kinds or "relationship" not in r.name.lower()]
    if directories:
        find += "\n" + "\n".join(f"- {r.markdown()}" for r in directories[:2])
    if "domestic_abuse_service" in kinds:
        find += "\n" + "\n".join(f"- {r.markdown()}" for r in resources_for(region, "abuse")[:2])
    parts = [intro, data.get("options_heading", ""), "\n".join(lines), find,
             data["first_session"], data["closing"]]
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def should_refer(user_texts: Sequence[str], screening_category: str = "none",
                 asked: bool = False, region: str = "international") -> Referral | None:
    """A referral when the conversation calls for professional help, else None."""
    texts = [t for t in user_texts if isinstance(t, str)]
    reasons = referral_reasons(texts, asked=asked)
    if not reasons:
        return None
    abuse = screening_category == "abuse" or _count(_ABUSE, texts) > 0
    kinds = _kinds(reasons, abuse)
    return Referral(reasons[0], kinds, referral_text(reasons[0], kinds, region), tuple(reasons))
