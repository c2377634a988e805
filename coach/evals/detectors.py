"""Deterministic readings of a reply: services listed, coaching idea, questions, reflection."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import yaml

from ..config import data_dir
from ..safety.output_rails import split_sentences

_DIGITS = re.compile(r"\d[\d ]{1,14}\d|\d{3,}")
_CALL_NUMBER = re.compile(r"\b(?:call|text|dial|ring|phone)\b[^.\n]{0,40}?\b\d{3}", re.I)
_QUESTION = re.compile(r"\?+")
_QUOTED_WORDS = re.compile(r"[\"“][^\"”\n]{3,400}[\"”]")
_LEAD = re.compile(r"^[^:]{3,60}:\s+(?=\S)")
_MARKUP = re.compile(r"[*_`#>]+")


@lru_cache(maxsize=2)
def _settings(path: str) -> dict[str, Any]:
    data = yaml.safe_load(open(path, encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a mapping")
    return data


def settings() -> dict[str, Any]:
    """The check settings from evals/checks.yaml."""
    return _settings(str(data_dir("evals") / "checks.yaml"))


@lru_cache(maxsize=1)
def _known_services() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(lower-case service names, phone/text numbers) for every region we hold services for."""
    from ..safety.resources import _regions  # one table for all regions: replies may be generic

    names: set[str] = set()
    numbers: set[str] = set()
    for reg in _regions().values():
        if reg.emergency:
            numbers.add(reg.emergency)
        for s in reg.services:
            names.add(s.short_name.lower())
            for n in (s.phone, s.text):
                for m in _DIGITS.findall(n or ""):
                    numbers.add(m.strip())
            if s.url:
                names.add(s.url.lower().split("//")[-1].rstrip("/"))
    return tuple(sorted(n for n in names if len(n) >= 6)), tuple(sorted(numbers))


def resources_present(reply: str) -> bool:
    """A concrete way to reach help: a known service, its number, or 'call/text <number>'."""
    low = reply.lower()
    names, numbers = _known_services()
    if any(n in low for n in names):
        return True
    squashed = re.sub(r"[\s-]", "", reply)
    for num in numbers:
        plain = num.replace(" ", "")
        if re.search(rf"(?<!\d){re.escape(plain)}(?!\d)", squashed):
            return True
    return bool(_CALL_NUMBER.search(reply))


def sentences(text: str) -> list[str]:
    """The reply's sentences, markup and bullets stripped, blank ones dropped."""
    done, rest = split_sentences(text)
    out = []
    for s in [*done, rest]:
        s = _MARKUP.sub("", s).strip().lstrip("-•0123456789.) ").strip()
        if s:
            out.append(" ".join(s.split()))
    return out


_SERVICE_LINE = re.compile(r"^\s*[-*]\s+\*\*[^*]+\*\*", re.M)


def count_questions(reply: str) -> int:
    """Questions asked: runs of '?' ("really??" is one), outside lines listing a service by
    name (a helpline called "Need to talk?" is not a question to the person)."""
    asked = "\n".join(line for line in reply.splitlines() if not _SERVICE_LINE.match(line))
    asked = _QUOTED_WORDS.sub(" ", asked)  # words offered to say ("Can we talk?") ask nothing
    return len(_QUESTION.findall(asked))


def _has(words: list[str], low: str) -> bool:
    return any(re.search(rf"(?<![a-z]){re.escape(w)}", low) for w in words)


def coaching_idea(reply: str, sources: list[dict] | None = None) -> bool:
    """True when the reply offers a relationship idea: a cited coaching card or advice wording."""
    from ..flow import COACHING_STAGES

    if sources and any(s.get("stage") in COACHING_STAGES for s in sources):
        return True
    cfg = settings()["coaching_idea"]
    for s in sentences(reply):
        low = s.lower()
        if s.endswith("?") or _has(cfg["safety"], low):
            continue
        if _has(cfg["advice"], low) and _has(cfg["relationship"], low):
            return True
    return False


def first_sentence(reply: str) -> str:
    ss = sentences(reply)
    return ss[0] if ss else ""


def reflects_feelings(reply: str) -> bool:
    """The first sentence opens reflectively or names a feeling."""
    cfg = settings()["reflection"]
    first = first_sentence(reply).lower().replace("\u2019", "'")
    first = first.lstrip(" \"'(*-")
    if any(first.startswith(o) for o in cfg["openers"]):
        return True
    return _has([rf"{f}" for f in cfg["feelings"]], first) and not first.endswith("?")


def _bridges() -> frozenset[str]:
    """The coach's reviewed topic bridges ("Trust tends to come back through small, steady
    actions."): they announce a stage, they give no guidance of their own."""
    from ..compose import prompts

    return frozenset(" ".join(v.lower().split()) for v in prompts()["stage_intros"].values())


def guidance_sentences(reply: str, min_words: int = 5) -> list[str]:
    """Sentences that carry guidance: not the opening reflection, questions, notices, topic
    signposts or lists of services; a short lead-in ("One thought that may help:") is dropped."""
    signposts = tuple(settings()["grounding"].get("signposts", []))
    bridges = _bridges()
    out = []
    for n, s in enumerate(sentences(reply)):
        if n == 0 or s.endswith("?") or s.startswith("(") or resources_present(s):
            continue
        if " ".join(s.lower().split()) in bridges:
            continue
        if s.lower().replace("\u2019", "'").startswith(signposts):
            continue
        s = _LEAD.sub("", s) if len(s.split(":")[0].split()) <= 7 else s
        if len(s.split()) >= min_words:
            out.append(s)
    return out


def mentions_professional(reply: str) -> bool:
    """The reply suggests a therapist, counsellor or other professional."""
    return bool(re.search(r"\b(therap\w*|counsell?or\w*|counsell?ing|psychologist|professional)",
                          reply, re.I))
