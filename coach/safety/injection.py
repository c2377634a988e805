"""Prompt-injection checks: messages that try to change the coach, and files that talk to it.

Deterministic patterns, no LLM. A detected message gets `meta_reply(kind)` (wording in
prompts/safety/meta.yaml) instead of going to the model. Kinds: override, roleplay,
prompt_extraction, document; "none" when nothing was found.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from coach.config import data_dir
from coach.errors import KnowledgeError


@dataclass(frozen=True)
class InjectionVerdict:
    """Whether text tries to steer the coach, which kind, why, and (for files) which lines."""

    is_injection: bool
    kind: str = "none"
    reasons: tuple[str, ...] = ()
    lines: tuple[int, ...] = field(default=())


_I = re.IGNORECASE
_RULES = (r"(?:instructions?|rules|prompts?|guidelines|directions|directives|programming"
          r"|system prompt|guardrails|restrictions|safety (?:rules|guidelines|filters?)"
          r"|training|constraints|policies|policy)")
# At least one word that points at the coach's own rules: "the rules my mum set" is not them.
_PRIOR = (r"(?:(?:the|of|these|those)\s+)*(?:your|all|any|previous|prior|above|earlier|initial"
          r"|original|safety|system)\s+(?:(?:previous|prior|above|earlier|initial|original|safety"
          r"|system|of|the|your)\s+)*")

_PATTERNS: tuple[tuple[str, str, re.Pattern], ...] = (
    ("override", "asks to ignore or replace the coach's instructions", re.compile(
        rf"\b(?:ignore|disregard|forget|override|bypass|skip|drop|abandon|discard|throw out)\s+"
        rf"{_PRIOR}{_RULES}\b"
        rf"|\b(?:ignore|disregard|forget)\s+(?:everything|all|anything)\s+(?:above|before|"
        r"previous(?:ly)?|you (?:were|have been) told)"
        r"|\bnew (?:instructions|rules|system prompt)\s*[:\-]"
        r"|\byou (?:are|'re) no longer (?:a |an |the )?(?:coach|assistant|trust coach|bound)"
        rf"|\b(?:do not|don't|no longer) (?:follow|obey|apply) {_PRIOR}{_RULES}"
        rf"|\byour {_RULES} (?:no longer apply|are (?:cancelled|void|lifted|suspended))"
        r"|\bfrom now on,? (?:you|answer|respond) (?:will |must |should )?(?:ignore|without|"
        r"only|answer without)", _I)),
    ("roleplay", "asks the coach to become an unrestricted persona", re.compile(
        r"\b(?:pretend|act|behave|roleplay|role-play|role play)\b[^.?!]{0,40}\b"
        r"(?:(?-i:DAN)|do anything now|jailbroken|unrestricted|unfiltered|uncensored|evil"
        r"|no (?:rules|limits|filters|"
        r"restrictions|ethics|guidelines)|without (?:any )?(?:rules|limits|filters|restrictions"
        r"|ethics|guidelines)|developer mode|an ai with no)\b"
        r"|\byou are now (?:an? )?(?:(?-i:DAN)|unrestricted|unfiltered|uncensored|jailbroken|free"
        r"|evil|different ai)\b"
        r"|\b(?:dan|developer|god|jailbreak|sudo|admin|debug) mode\b|\bdo anything now\b"
        r"|\bjailbreak(?:ed|ing)?\b|\bstay in character no matter"
        r"|\bhypothetically,? (?:if you|as an ai) (?:had|with) no (?:rules|restrictions)", _I)),
    ("professional_roleplay", "asks the coach to act as a therapist, doctor or lawyer",
     re.compile(
        r"\b(?:pretend|act|behave|roleplay|role-play|role play|play)\b[^.?!]{0,25}\b(?:my |a |an |the )?"
        r"(?:therapist|psychologist|psychiatrist|counsell?or|doctor|gp|lawyer|solicitor)\b"
        r"|\b(?:you are|you're|be) (?:now )?my (?:therapist|psychologist|psychiatrist|counsell?or"
        r"|doctor|lawyer)\b"
        r"|\bas my (?:therapist|psychologist|psychiatrist|counsell?or|doctor|lawyer)\b", _I)),
    ("prompt_extraction", "asks for the coach's system prompt or setup", re.compile(
        r"\b(?:what(?:'s| is| are| were)|show|tell|reveal|print|repeat|give|share|display|output"
        r"|list|paste|copy|leak|send|write out|spell out|translate|summari[sz]e|paraphrase)\b"
        r"[^.?!]{0,30}\b(?:your|the)\s+"
        r"(?:system prompt|system message|initial prompt|hidden prompt|original prompt|"
        r"(?:initial |original |hidden |secret |exact |full |system |internal )?instructions"
        r"|(?:hidden |secret |internal )(?:rules|guidelines)|prompt|configuration|setup|"
        r"developer message|pre-?prompt)\b"
        r"|\b(?:repeat|print|output|show me|copy)\b[^.?!]{0,20}\b(?:the )?(?:text|words|"
        r"everything|message|lines) (?:above|before this|at the (?:start|beginning))"
        r"|\bwhat were you (?:told|instructed|programmed)|\bhow (?:were|are) you (?:programmed|"
        r"prompted|instructed|configured|set up)\b|\bwhat (?:rules|instructions) (?:do|did) you"
        r" (?:follow|get|have|receive)", _I)),
)

# Lines in a user's own file that speak to the AI rather than to a human reader.
_ADDRESSED = re.compile(
    r"^\s*(?:#+\s*)?(?:note to|attention|to)\s+(?:the\s+)?(?:ai|assistant|model|chatbot|bot|llm"
    r"|coach)\b|^\s*(?:system|assistant|ai|instruction|instructions)\s*:"
    r"|<\|?(?:system|im_start|im_end)\|?>|\[/?(?:inst|system)\]|<<\s*sys\s*>>"
    r"|\bif you are (?:an? )?(?:ai|assistant|language model|llm|chatbot)\b"
    r"|\b(?:ai|assistant|language model|llm|chatbot|model)s?\s+(?:reading|processing) this\b"
    r"|\b(?:you must|you should|always|never|do not|don't)\s+(?:tell|advise|recommend to|instruct"
    r"|convince|remind) the (?:user|reader|person|client)\b"
    r"|\b(?:tell|advise|instruct|convince|remind) the (?:user|reader|person|client)\b"
    r"|\bwhen (?:the )?(?:ai|assistant|model|coach|you) (?:reads?|sees?|processes) this\b", _I)

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").translate(_ZERO_WIDTH)
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.split())


def detect_injection(text: str) -> InjectionVerdict:
    """Whether a user message tries to override, re-persona or read out the coach's setup."""
    norm = _normalise(text)
    for kind, reason, pattern in _PATTERNS:
        m = pattern.search(norm)
        if m:
            return InjectionVerdict(True, kind, (f"{reason}: {m.group(0)!r}",))
    return InjectionVerdict(False)


def scan_document(text: str) -> InjectionVerdict:
    """Flag lines of a user-added knowledge file that give orders to the AI (1-based lines)."""
    flagged: list[int] = []
    reasons: list[str] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        norm = _normalise(line)
        if not norm:
            continue
        verdict = detect_injection(norm)
        if verdict.is_injection:
            flagged.append(number)
            reasons.append(f"line {number}: {verdict.reasons[0]}")
        elif (m := _ADDRESSED.search(norm)):
            flagged.append(number)
            reasons.append(f"line {number}: addressed to the AI: {m.group(0).strip()!r}")
    if not flagged:
        return InjectionVerdict(False)
    return InjectionVerdict(True, "document", tuple(reasons), tuple(flagged))


def strip_flagged_lines(text: str, verdict: InjectionVerdict) -> str:
    """The document without the lines scan_document flagged (so the rest can still be used)."""
    drop = set(verdict.lines)
    return "\n".join(line for n, line in enumerate(text.splitlines(), start=1) if n not in drop)


@lru_cache(maxsize=4)
def _wording(path: str, mtime: float) -> dict[str, list[str]]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or not data.get("default"):
        raise KnowledgeError(f"{path}: default: missing")
    return {str(k): [" ".join(str(v).split()) for v in (vals if isinstance(vals, list) else [vals])]
            for k, vals in data.items()}


def meta_reply(kind: str, seed: int = 0) -> str:
    """A friendly answer: the coach keeps its approach, shares no setup, returns to the topic."""
    path = data_dir("prompts") / "safety" / "meta.yaml"
    try:
        table = _wording(str(path), path.stat().st_mtime)
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: file not found (meta wording is required)") from None
    options = table.get(kind) or table["default"]
    return options[abs(seed) % len(options)]
