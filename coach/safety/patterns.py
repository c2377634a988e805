"""The deterministic layer of input screening: curated patterns from data/patterns.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .types import LEVEL_RANK as _LEVEL_RANK

DATA = Path(__file__).resolve().parent / "data"
_QUOTED = re.compile(r"\"[^\"]{1,400}\"|(?<![a-z])'[^']{2,400}'(?![a-z])")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|[\r\n]+")
_MACRO = re.compile(r"\{([A-Z]+)\}")
_MASK = " ~ "


@dataclass(frozen=True)
class Hit:
    """One rule that fired on a message."""

    rule: str
    category: str
    level: str
    reason: str
    history: str = ""  # a concern hit becomes urgent when earlier messages raised this category


@dataclass(frozen=True)
class _Rule:
    id: str
    category: str
    level: str
    reason: str
    any: tuple[re.Pattern, ...]
    with_: tuple[re.Pattern, ...]
    without: tuple[re.Pattern, ...]
    escalate: tuple[re.Pattern, ...]
    negation: str  # "prefix" (cue just before the hit), "full" (also inside it) or "off"
    media: bool
    history: str


@dataclass(frozen=True)
class PatternSet:
    """Compiled patterns: rewrites, idioms, negation and rules."""

    rewrites: tuple[tuple[re.Pattern, str], ...]
    idioms: tuple[re.Pattern, ...]
    media: re.Pattern
    neg_cues: re.Pattern
    not_negation: re.Pattern
    clause_breaks: re.Pattern
    neg_window: int
    subject_start: re.Pattern
    subject_cues: re.Pattern
    rules: tuple[_Rule, ...]
    risk_vocabulary: re.Pattern


def _expand(pattern: str, macros: dict[str, str]) -> str:
    for _ in range(5):  # macros may use other macros
        new = _MACRO.sub(lambda m: macros.get(m.group(1), m.group(0)), pattern)
        if new == pattern:
            break
        pattern = new
    return pattern


def _compile_many(items, macros) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(_expand(p, macros)) for p in (items or ()))


def load_patterns(path: Path | None = None) -> PatternSet:
    """Read and compile a patterns file (the packaged one by default)."""
    raw = yaml.safe_load((path or DATA / "patterns.yaml").read_text(encoding="utf-8"))
    macros = raw.get("macros", {})
    neg = raw["negation"]
    rules = []
    for r in raw["rules"]:
        try:
            rules.append(
                _Rule(
                    id=r["id"],
                    category=r["category"],
                    level=r["level"],
                    reason=r["reason"],
                    any=_compile_many(r["any"], macros),
                    with_=_compile_many(r.get("with"), macros),
                    without=_compile_many(r.get("without"), macros),
                    escalate=_compile_many(r.get("escalate"), macros),
                    negation=r.get("negation", "prefix"),
                    media=r.get("media", False),
                    history=r.get("history", ""),
                )
            )
        except re.error as exc:
            raise ValueError(f"pattern rule {r.get('id')!r} does not compile: {exc}") from exc
    return PatternSet(
        rewrites=tuple((re.compile(a), b) for a, b in raw.get("rewrite", [])),
        idioms=tuple(re.compile(_expand(i["re"], macros)) for i in raw.get("idioms", [])),
        media=re.compile(raw["media"]),
        neg_cues=re.compile(neg["cues"]),
        not_negation=re.compile(neg["not_negation"]),
        clause_breaks=re.compile(neg["clause_breaks"]),
        neg_window=int(neg.get("window", 6)),
        subject_start=re.compile(neg.get("subject_start", r"(?!)")),
        subject_cues=re.compile(neg.get("subject_cues", r"(?!)")),
        rules=tuple(rules),
        risk_vocabulary=re.compile(_expand(raw["risk_vocabulary"], macros)),
    )


@lru_cache(maxsize=1)
def default_patterns() -> PatternSet:
    """The packaged pattern set, compiled once per process."""
    return load_patterns()


def normalise(text: str, ps: PatternSet) -> str:
    """Lower-case and rewrite slang/obfuscations so one pattern covers many spellings."""
    text = text.lower()
    for pattern, repl in ps.rewrites:
        text = pattern.sub(repl, text)
    return re.sub(r"[ \t]+", " ", text)


def sentences(text: str) -> list[str]:
    """Split normalised text into sentences (line breaks count as sentence ends)."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s and s.strip()]


def prepare(sentence: str, ps: PatternSet) -> tuple[str, bool]:
    """Blank idioms (and quotes in media talk); say whether the sentence is about media."""
    is_media = bool(ps.media.search(sentence))
    if is_media:
        sentence = _QUOTED.sub(_MASK, sentence)
    for idiom in ps.idioms:
        sentence = idiom.sub(_MASK, sentence)
    return sentence, is_media


def _negated(sentence: str, start: int, end: int, ps: PatternSet, inside: bool) -> bool:
    """True when a negation cue sits in the same clause just before (or inside) a hit."""
    before = sentence[:start]
    breaks = list(ps.clause_breaks.finditer(before))
    if breaks:
        before = before[breaks[-1].end() :]
    window = " ".join(before.split()[-ps.neg_window :])
    hit = sentence[start:end]
    if ps.subject_start.match(hit) and not ps.subject_cues.search(window):
        window = ""  # the cue belongs to an earlier clause ("if he doesn't answer, I'm...")
    scope = f"{window} {hit}" if inside else window
    scope = ps.not_negation.sub(" ", scope)
    return bool(ps.neg_cues.search(scope))


def _found(patterns, sentence: str, ps: PatternSet, negation: str = "prefix") -> bool:
    for pattern in patterns:
        for m in pattern.finditer(sentence):
            if negation == "off" or not _negated(
                sentence, m.start(), m.end(), ps, inside=negation == "full"
            ):
                return True
    return False


def scan(text: str, ps: PatternSet | None = None) -> list[Hit]:
    """All rules that fire on a message, after rewrites, idioms, media and negation."""
    ps = ps or default_patterns()
    prepared = [prepare(s, ps) for s in sentences(normalise(text, ps))]
    whole = " . ".join(s for s, _ in prepared)
    hits: dict[str, Hit] = {}
    for sentence, is_media in prepared:
        if not sentence.strip(" ~"):
            continue
        for rule in ps.rules:
            if rule.id in hits and hits[rule.id].level == "urgent":
                continue
            if rule.media and is_media:
                continue
            if not _found(rule.any, sentence, ps, rule.negation):
                continue
            if rule.with_ and not _found(rule.with_, whole, ps):
                continue
            if rule.without and any(p.search(sentence) for p in rule.without):
                continue
            level = rule.level
            if rule.escalate and _found(rule.escalate, whole, ps):
                level = "urgent"
            hits[rule.id] = Hit(rule.id, rule.category, level, rule.reason, rule.history)
    return list(hits.values())


# The idioms blank words of violence, death and self-harm; media quotes the same.
CATEGORIES_WITH_IDIOMS = ("self_harm", "abuse", "harm_to_others", "child_safety")


def _matches(patterns, sentence: str) -> bool:
    return any(p.search(sentence) for p in patterns)


@lru_cache(maxsize=4096)
def vetoed_categories(text: str, ps: PatternSet | None = None) -> frozenset[str]:
    """Categories whose rule wording appears but the patterns ruled it out on purpose: negated
    ("I'm not suicidal"), media talk, or an explicit exclusion. The trained classifier must not
    overrule such a curated decision with a guess of its own."""
    ps = ps or default_patterns()
    prepared = [prepare(s, ps) for s in sentences(normalise(text, ps))]
    fired = {h.category for h in scan(text, ps)}
    if not fired and any(_MASK in s for s, _ in prepared):
        # A curated idiom ("this is killing me", "end it with her") explains the risky words.
        return frozenset(CATEGORIES_WITH_IDIOMS)
    out = set()
    for sentence, is_media in prepared:
        for rule in ps.rules:
            if rule.category in fired or rule.category in out or not _matches(rule.any, sentence):
                continue
            if ((rule.media and is_media) or not _found(rule.any, sentence, ps, rule.negation)
                    or (rule.without and _matches(rule.without, sentence))):
                out.add(rule.category)
    return frozenset(out)


def has_risk_vocabulary(text: str, ps: PatternSet | None = None) -> bool:
    """Cheap gate: does the message contain any word that risk talk usually needs?"""
    ps = ps or default_patterns()
    # Idioms are blanked first: "he hit the roof" alone gives the similarity step nothing to do.
    prepared = " . ".join(prepare(s, ps)[0] for s in sentences(normalise(text, ps)))
    return bool(ps.risk_vocabulary.search(prepared))


def level_rank(level: str) -> int:
    return _LEVEL_RANK[level]
