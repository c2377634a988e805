"""Direct answers: questions about the coach, requests for a label, and questions a card answers.

Pure functions over the reading, a card and reviewed wording (prompts/answers.yaml); the engine
decides when each applies. Nothing here calls a model.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .config import data_dir
from .knowledge import Card
from .reading import Reading

_P = re.IGNORECASE
_ABOUT_KIND = (
    ("therapist", re.compile(r"therapist|counsell?or|psycholog|doctor|licen[cs]ed|qualified|"
                             r"trained|professional", _P)),
    ("privacy", re.compile(r"\bwho (can |else |could )?(see|sees|read|reads|has access|stores?)|"
                           r"private|saved|stored|recorded|kept|shared|confidential|where (is|are)"
                           r" (this|my|our)|data\b", _P)),
    ("maker", re.compile(r"who (made|built|created|programmed|owns|runs)|what are you|how do you "
                         r"work|what model", _P)),
    ("capabilities", re.compile(r"what can you do|can you help", _P)),
    ("person", re.compile(r".", _P)),
)
_VERDICT = re.compile(r"\b(cheating|lying|a liar|a cheater|in love|love me|care about me|"
                      r"do it again|cheat again)\b", _P)
_SELF = re.compile(r"\b(am|was) i\b", _P)
_SELF_DIAGNOSIS = re.compile(r"\b(do|could|might|would) i have\b|\bsomething wrong with me\b", _P)
_PATTERN = re.compile(r"\bis (this|that|it)\b", _P)


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def wording() -> dict[str, Any]:
    path = data_dir("prompts") / "answers.yaml"
    return _load(str(path), path.stat().st_mtime)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _pick(options: list[str], seed: int) -> str:
    return options[seed % len(options)] if options else ""


def about_kind(text: str) -> str:
    """Which question about the coach this is: person, therapist, privacy, maker, capabilities."""
    return next(kind for kind, pat in _ABOUT_KIND if pat.search(text))


def about_reply(text: str, where: str, seed: int = 0) -> str:
    """A direct, true answer about what the coach is, followed by an open invitation."""
    w = wording()["about"]
    kind = about_kind(text)
    answer = _flat(w[kind]).format(where=where)
    if "AI coach" not in answer:
        answer = f"{answer} (I'm an AI coach, not a person.)"
    return f"{answer}\n\n{_pick(w['follow_up'], seed)}"


def label_reply(text: str, seed: int = 0, abuse_hint: bool = False) -> str:
    """An honest no to a label or verdict, then a turn to behaviour and feelings."""
    w = wording()["label"]
    if _SELF_DIAGNOSIS.search(text):
        kind = "self_diagnosis"
    elif _SELF.search(text):
        kind = "self"
    elif _VERDICT.search(text):
        kind = "verdict"
    elif _PATTERN.search(text):
        kind = "pattern"
    else:
        kind = "partner"
    parts = [_flat(w[kind])]
    if abuse_hint or re.search(r"abus|gaslight|manipulat|control", text, _P):
        parts.append(_flat(w["abuse_hint"]))
    parts.append(_pick(w["questions"], seed))
    return "\n\n".join(parts)


def answer_parts(card: Card, reading: Reading, role: str, seed: int = 0) -> list[str]:
    """The answer a card gives to the person's question: its idea, and words where asked."""
    w = wording()
    lead = _pick(w["answer_leads"], seed)
    idea = f"{lead} {card.tip}".strip() if card.tip else ""
    parts = [idea] if idea else []
    if reading.wants_words:
        phrase = card.say[seed % len(card.say)] if card.say else _quoted_example(card)
        if phrase:
            parts.append(f"{_pick(w['words_leads'], seed)} \"{phrase.strip(chr(34))}\"")
    elif role and card.actions_for(role):
        parts.append(card.actions_for(role)[0])
    return parts


_QUOTE = re.compile(r"[\"“]([^\"”\n*]{12,240}[.!?])[\"”]")


def _quoted_example(card: Card) -> str:
    """An example sentence written into the card's body (one line, plain words), if any."""
    for m in _QUOTE.finditer(card.body):
        text = " ".join(m.group(1).split())
        if 4 <= len(text.split()) <= 45:
            return text
    return ""
