"""The deterministic composer: builds replies from prompt data and retrieved cards.

It is the `scripted` backend, the fallback when an LLM fails, and the part of every reply
that a small local model should not write (the idea and the question).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import yaml

from .config import data_dir
from .flow import SessionState
from .knowledge import Card

_FEELINGS: list[tuple[str, re.Pattern[str]]] = [
    ("hurt", re.compile(r"\b(hurt|hurting|heartbroken|broken|devastat\w*|crushed|betrayed|gutted|"
                        r"sick to my stomach|feel sick|shattered)\b", re.I)),
    ("anxious", re.compile(r"\b(anxious|anxiety|worried|worry|worrying|panic\w*|on edge|nervous|"
                           r"overthink\w*|can'?t stop thinking|paranoid)\b", re.I)),
    ("angry", re.compile(r"\b(angry|furious|mad|pissed|rage|resent\w*|livid)\b", re.I)),
    ("scared", re.compile(r"\b(scared|afraid|terrified|fear|frightened)\b", re.I)),
    ("confused", re.compile(r"\b(confused|don'?t know what to (do|think)|lost|unsure|torn)\b", re.I)),
    ("guilty", re.compile(r"\b(guilty|guilt|ashamed|shame|regret\w*|i messed up|hate myself)\b", re.I)),
    ("lonely", re.compile(r"\b(lonely|alone|isolated|disconnected|distant)\b", re.I)),
    ("exhausted", re.compile(r"\b(exhausted|tired|drained|worn out|can'?t sleep|no energy)\b", re.I)),
    ("jealous", re.compile(r"\b(jealous|jealousy|envious)\b", re.I)),
    ("sad", re.compile(r"\b(sad|down|depressed|crying|cry|miserable|empty|numb)\b", re.I)),
    ("frustrated", re.compile(r"\b(frustrat\w*|stuck|fed up|going in circles|same fight)\b", re.I)),
    ("hopeful", re.compile(r"\b(hope|hopeful|want to make it work|want to fix|willing)\b", re.I)),
]
# (pattern, phrase after a feeling, topic noun phrase) — neutral about who did what.
_SITUATIONS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"\b(affair|cheat\w*|unfaithful|slept with)\b", re.I),
     "after everything that's happened", "what happened with the affair"),
    (re.compile(r"\b(lie|lied|lies|lying|dishonest)\b", re.I),
     "about the dishonesty", "the dishonesty"),
    (re.compile(r"\b(money|debt|spent|spending|savings|credit card)\b", re.I),
     "about what happened with money", "what happened with money"),
    (re.compile(r"\b(phone|texts?|messag\w*|social media|instagram|dms?)\b", re.I),
     "around the phone and messages", "what's been happening around phones and messages"),
    (re.compile(r"\b(child(hood)?|parents?|grew up|my dad|my mum|my mom)\b", re.I),
     "given what you carried from earlier in life", "what you carried from earlier in life"),
    (re.compile(r"\b(fight\w*|argu\w*|row\w*|yell\w*|shout\w*)\b", re.I),
     "with all the arguing", "the arguments between you"),
    (re.compile(r"\b(ex\b|ex's|his ex|her ex|former partner)", re.I),
     "around the ex", "the situation with the ex"),
    (re.compile(r"\b(distance|distant|roommates|don'?t talk|barely talk)\b", re.I),
     "with the distance between you", "the distance between you"),
]


@lru_cache(maxsize=8)
def _load(name: str) -> dict[str, Any]:
    path = data_dir("prompts") / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: must be a mapping")
    return data


def prompts() -> dict[str, Any]:
    return _load("coach")


# A feeling that belongs to someone else ("she's devastated", "my husband seems angry") is not
# the writer's, and is not reflected back to them as theirs.
_OTHERS_FEELING = re.compile(
    r"\b(she|he|they|my (wife|husband|partner|girlfriend|boyfriend|fianc[eé]e?|ex))\s*"
    r"(is|'s|was|were|are|'re|seems?|seemed|looks?|looked|felt|feels?|got|gets|sounds?)\s+"
    r"(\w+\s+){0,2}$", re.I)


def detect_feelings(text: str) -> list[str]:
    """The feelings the writer names about themselves."""
    out = []
    for name, pat in _FEELINGS:
        for m in pat.finditer(text):
            clause = re.split(r"[,.;!?]|\b(?:and|but)\b", text[max(0, m.start() - 40):m.start()])[-1]
            if not _OTHERS_FEELING.search(clause):
                out.append(name)
                break
    return out


def _situation(text: str) -> str:
    for pat, phrase, _ in _SITUATIONS:
        if pat.search(text):
            return f" {phrase}"
    return ""


def _topic(text: str) -> str:
    for pat, _, topic in _SITUATIONS:
        if pat.search(text):
            return topic
    return ""


def scripted_reflection(text: str, turn: int) -> str:
    """One sentence reflecting the feeling in `text`, without guessing about the partner."""
    p = prompts()
    feelings = [f for f in detect_feelings(text) if f != "hopeful"][:2]
    if not feelings:
        if len(text.split()) <= 2:
            return p["short_message_nudge"]
        topic = _topic(text)
        options = p["reflections_topic"] if topic else p["reflections_neutral"]
        return options[turn % len(options)].format(topic=topic)
    feeling = " and ".join(feelings)
    options = p["reflections"]
    return options[turn % len(options)].format(feeling=feeling, situation=_situation(text))


def pick_question(card: Card, state: SessionState) -> str:
    """The card's next question for this person ('' when none of them suits this person)."""
    fitting = card.questions_for(state.role)
    for q in fitting:
        if q not in state.asked:
            return q
    return fitting[0] if fitting else ""


def stage_name(stage: str) -> str:
    return prompts()["stage_names"].get(stage, stage.replace("_", " "))


def coaching_reply(reflection: str, card: Card, question: str, *, intro: str = "",
                   turn: int = 0) -> str:
    """Reflection, then one idea from the card, then at most one question."""
    leads = prompts()["idea_lead"]
    idea = f"{leads[turn % len(leads)]} {card.tip}" if card.tip else ""
    opening = " ".join(p for p in (reflection.strip(), intro) if p)
    paragraphs = [p for p in (opening, idea) if p]
    if question:
        paragraphs.append(question)
    return "\n\n".join(p for p in paragraphs if p)


def understand_reply(reflection: str, question: str) -> str:
    return "\n\n".join(p for p in (reflection, question) if p)


def plan_reply(state: SessionState) -> str:
    p = prompts()["plan"]
    if not state.plan_items:
        return p["empty"]
    items = "\n".join(f"{n}. {item}" for n, item in enumerate(state.plan_items[:5], 1))
    return f"{p['intro']}\n\n{items}\n\n{p['ask']}"


def plan_item_from(card: Card, role: str = "unknown") -> str:
    """A plan step: the card's action for this person's role, else its tip."""
    actions = card.actions_for(role)
    return (actions[0] if actions else card.tip).strip()
