"""Input screening: notice danger in a user's message without any LLM.

Two layers, both deterministic:

1. Curated patterns (data/patterns.yaml, see patterns.py): slang rewrites, idioms, quoted
   media, negation. They decide every `urgent` verdict and most `concern` ones.
2. Similarity to labelled examples (data/examples.yaml, see similarity.py) with the offline
   MiniLM embeddings. Only for messages the patterns left at `none` that still contain risk
   vocabulary; it can raise them to `concern`, never to `urgent`, and never lowers a verdict.
   Gating keeps most messages on the fast path (no embedding): see benchmarks/bench_screening.py.

Decisions (the test set in evals/screening.jsonl follows them):
- A passive wish to be dead ("I don't want to wake up tomorrow") is self_harm/concern; a time,
  method, means at hand, a goodbye or a stated intent makes it urgent.
- "He'd kill me if I'm late" with a trivial condition or a joke marker is an idiom (none); with
  leaving, telling or seeking help ("if he knew I was talking to you") it is abuse/concern; a
  reported threat ("he said he'll kill me") and strangulation are abuse/urgent.
- "I could kill him" is exasperation (none); "I'm going to kill him" is intent (urgent).
- Surveillance means the USER wants covert access to a partner's phone, accounts or location;
  a partner monitoring the user is abuse.
- When several categories fire, the highest level wins; ties go to the first of PRIORITY.
- History: any risk raised by an earlier user message keeps the conversation at least at that
  category and `concern` (so an abuse disclosure on turn 2 still rules out couples advice later),
  and a rule marked `history:` (farewells, giving things away) turns urgent after earlier risk of
  that category.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from ..errors import InputError
from . import patterns as _patterns
from .types import Screening

PRIORITY = (
    "medical_emergency",
    "self_harm",
    "abuse",
    "child_safety",
    "harm_to_others",
    "surveillance",
)
# Longer messages are screened by their first and last HALF_WINDOW characters; the reason
# says so. 2 x 100 kB of patterns takes well under a second.
HALF_WINDOW = 100_000
_SEMANTIC_REASON = {
    "self_harm": "sounds close to examples of people thinking about ending their life or self-harm",
    "abuse": "sounds close to examples of abuse or control by a partner",
    "harm_to_others": "sounds close to examples of wanting to hurt someone",
    "child_safety": "sounds close to examples of a child being unsafe",
    "medical_emergency": "sounds close to examples of a medical emergency",
    "surveillance": "sounds close to examples of wanting to secretly monitor a partner",
}
NONE = Screening()


def _check(text: object) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InputError(f"Screening needs text, not {type(text).__name__}.")
    return text


def _windows(text: str) -> tuple[str, bool]:
    if len(text) <= 2 * HALF_WINDOW:
        return text, False
    return text[:HALF_WINDOW] + "\n" + text[-HALF_WINDOW:], True


@lru_cache(maxsize=4096)
def _pattern_hits(text: str) -> tuple[_patterns.Hit, ...]:
    """Pattern hits for one message (cached: history is re-screened every turn)."""
    return tuple(_patterns.scan(text))


def _needs_similarity(text: str, hits: Sequence[_patterns.Hit]) -> bool:
    return not hits and _patterns.has_risk_vocabulary(text)


def _similarity_chunks(text: str) -> list[str]:
    """The parts of a message worth embedding: all of it, or its risky sentences if long."""
    from .similarity import MAX_CHARS

    if len(text) <= MAX_CHARS:
        return [text]
    ps = _patterns.default_patterns()
    risky = [s for s in _patterns.sentences(text) if _patterns.has_risk_vocabulary(s, ps)]
    chunks, current = [], ""
    for s in risky:
        if current and len(current) + len(s) > MAX_CHARS:
            chunks.append(current)
            current = ""
        current = f"{current} {s}".strip()[:MAX_CHARS]
    if current:
        chunks.append(current)
    return chunks[:8]  # bounded cost for pasted essays


def _verdict(hits: Sequence[_patterns.Hit], semantic_category: str, note: str | None) -> Screening:
    """Turn hits into one Screening: highest level, then PRIORITY order."""
    if not hits and semantic_category == "none":
        return Screening(reasons=(note,)) if note else NONE
    if hits:
        best = max(hits, key=lambda h: (_patterns.level_rank(h.level), -PRIORITY.index(h.category)))
        category, level = best.category, best.level
        ordered = sorted(hits, key=lambda h: (h.category != category, -_patterns.level_rank(h.level)))
        reasons = list(dict.fromkeys(h.reason for h in ordered))
    else:
        category, level = semantic_category, "concern"
        reasons = [_SEMANTIC_REASON[semantic_category]]
    if note:
        reasons.append(note)
    return Screening(category, level, tuple(reasons))


def _screen_batch(texts: Sequence[str], semantic: bool) -> list[Screening]:
    prepared = [_windows(_check(t)) for t in texts]
    hits = [_pattern_hits(t) if t.strip() else () for t, _ in prepared]
    semantic_cat = ["none"] * len(texts)
    if semantic:
        todo = [i for i, (t, _) in enumerate(prepared) if t.strip() and _needs_similarity(t, hits[i])]
        if todo:
            from .similarity import default_index

            chunks = [(i, c) for i in todo for c in _similarity_chunks(prepared[i][0])]
            matches = default_index().match([c for _, c in chunks]) if chunks else []
            for (i, _), m in zip(chunks, matches):
                if m.category != "none" and semantic_cat[i] == "none":
                    semantic_cat[i] = m.category
    note = "very long message: only its beginning and end were screened"
    return [
        _verdict(hits[i], semantic_cat[i], note if prepared[i][1] else None)
        for i in range(len(texts))
    ]


@lru_cache(maxsize=2048)
def _screen_cached(text: str, semantic: bool) -> Screening:
    return _screen_batch([text], semantic)[0]


def _escalated_by_history(text: str, risky_before: Sequence[Screening]) -> bool:
    """True when a hit in this message turns urgent after earlier risk of its kind.

    "I've been giving my things away" alone is a worry; after talk of not wanting to live it is
    a warning sign that needs the urgent reply.
    """
    earlier = {s.category for s in risky_before}
    window, _ = _windows(text)
    return any(h.history in earlier for h in _pattern_hits(window) if h.level == "concern")


def screen(text: str, history: Sequence[str] | None = None, *, semantic: bool = True) -> Screening:
    """Screen one user message, in the light of the earlier user messages (oldest first).

    Args:
        semantic: also use the embedding similarity layer (False: patterns only, the fast path).
    """
    current = _screen_cached(_check(text), semantic)
    earlier = [_screen_cached(_check(h), semantic) for h in (history or ())]
    risky_before = [s for s in earlier if s.is_risk]
    if not risky_before:
        return current
    # The most serious earlier risk sets the floor; ties go to the most recent one.
    floor = max(
        reversed(risky_before),
        key=lambda s: (_patterns.level_rank(s.level), -PRIORITY.index(s.category)),
    )
    carried = f"earlier in this conversation: {floor.reasons[0]}" if floor.reasons else (
        "risk was raised earlier in this conversation"
    )
    if not current.is_risk:
        return Screening(floor.category, "concern", (carried,))
    if current.level == "concern" and _escalated_by_history(text, risky_before):
        return Screening(current.category, "urgent", current.reasons + (carried,))
    if current.category != floor.category:
        return Screening(current.category, current.level, current.reasons + (carried,))
    return current


def screen_many(texts: Sequence[str], *, semantic: bool = True) -> list[Screening]:
    """Screen independent messages in one batch (embeddings computed together)."""
    return _screen_batch(list(texts), semantic)
