"""Input screening: notice danger in a user's message without any LLM.

Two layers, both deterministic:

1. Curated patterns (data/patterns.yaml, see patterns.py): slang rewrites, idioms, quoted
   media, negation. Exact, high-precision cases, and curated decisions the others respect.
2. Similarity to labelled examples (data/examples.yaml, see similarity.py) with the offline
   MiniLM embeddings. Only for messages the patterns left at `none` that still contain risk
   vocabulary; it can raise them to `concern`, never to `urgent`, and never lowers a verdict.
3. The trained classifier (classifier.py, trained by train.py on ~12,500 labelled messages):
   alone it asks (check_in) from 0.95 and acts from 0.97 (urgent when its urgent head is sure);
   behind a pattern it may raise the level to urgent. It never overrules a curated
   decision (a negated or excluded rule, an idiom, media talk): patterns.vetoed_categories.
   Thresholds ship with the model (docs/safety-classifier.md has the table).
Conversation level: the last CONTEXT_TURNS user messages are also read together with the new
one, so a disclosure that leans on earlier turns is caught.

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
# How many earlier user messages are read together with the new one.
CONTEXT_TURNS = 2
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


def _classifier_verdict(text: str, backing: Screening = NONE, may_raise: bool = True,
                        joined: bool = False) -> Screening:
    """The trained classifier's verdict on one message, next to what the patterns found.

    Alone, the classifier acts from its `strong` threshold and asks (check_in) below it. Where
    a pattern already fired, it may raise that verdict to urgent when it reads the same
    category as urgent (e.g. violence during pregnancy that the pattern rated a concern).
    """
    from .classifier import default_model

    model = default_model()
    reading = model.read_message(text)
    if backing.is_risk:
        if may_raise and backing.level != "urgent" and model.urgent(reading, backing.category):
            return Screening(backing.category, "urgent", backing.reasons + (
                f"the trained classifier reads it as urgent "
                f"({reading.probs[backing.category + ':urgent']:.2f})",))
        return backing
    category, level, p = model.level(reading, acting_only=joined)
    if level == "none" or category in _patterns.vetoed_categories(text):
        return backing
    reason = (f"{_SEMANTIC_REASON[category]} (trained classifier, {p:.2f})" if level != "check_in"
              else f"might be about {category.replace('_', ' ')}: worth asking (classifier, "
                   f"{p:.2f})")
    return Screening(category, level, (reason,) + backing.reasons)


def _verdict(hits: Sequence[_patterns.Hit], note: str | None) -> Screening:
    """Turn pattern hits into one Screening: highest level, then PRIORITY order."""
    if not hits:
        return Screening(reasons=(note,)) if note else NONE
    best = max(hits, key=lambda h: (_patterns.level_rank(h.level), -PRIORITY.index(h.category)))
    category, level = best.category, best.level
    ordered = sorted(hits, key=lambda h: (h.category != category, -_patterns.level_rank(h.level)))
    reasons = list(dict.fromkeys(h.reason for h in ordered))
    if note:
        reasons.append(note)
    return Screening(category, level, tuple(reasons))


def _similarity_chunks(text: str) -> list[str]:
    """The parts of a message worth comparing: all of it, or its risky sentences if long."""
    from .similarity import MAX_CHARS

    if len(text) <= MAX_CHARS:
        return [text]
    ps = _patterns.default_patterns()
    risky = [s for s in _patterns.sentences(text) if _patterns.has_risk_vocabulary(s, ps)]
    pieces, current = [], ""
    for s in risky:
        if current and len(current) + len(s) > MAX_CHARS:
            pieces.append(current)
            current = ""
        current = f"{current} {s}".strip()[:MAX_CHARS]
    if current:
        pieces.append(current)
    return pieces[:8]  # bounded cost for pasted essays


def _similar(texts: list[str]) -> list[str]:
    """The similarity layer: the category of a close labelled example, per text ("none")."""
    from .similarity import default_index

    pairs = [(i, c) for i, t in enumerate(texts) for c in _similarity_chunks(t)]
    found = ["none"] * len(texts)
    for (i, _), m in zip(pairs, default_index().match([c for _, c in pairs]) if pairs else []):
        if m.category != "none" and found[i] == "none":
            found[i] = m.category
    return found


def _screen_batch(texts: Sequence[str], semantic: bool) -> list[Screening]:
    prepared = [_windows(_check(t)) for t in texts]
    note = "very long message: only its beginning and end were screened"
    hits = [_pattern_hits(t) if t.strip() else () for t, _ in prepared]
    similar = ["none"] * len(texts)
    if semantic:
        todo = [i for i, (t, _) in enumerate(prepared)
                if t.strip() and not hits[i] and _patterns.has_risk_vocabulary(t)]
        for i, cat in zip(todo, _similar([prepared[i][0] for i in todo])):
            similar[i] = cat
    out = []
    for i, (text, cut) in enumerate(prepared):
        if not text.strip():
            out.append(NONE)
            continue
        verdict = _verdict(hits[i], note if cut else None)
        if similar[i] != "none":
            verdict = Screening(similar[i], "concern", (_SEMANTIC_REASON[similar[i]],)
                                + verdict.reasons)
        # A rule with its own escalation condition (history:) has a curated level: keep it.
        curated = any(h.history for h in hits[i])
        out.append(_classifier_verdict(text, verdict, not curated) if semantic else verdict)
    return out


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
    history = list(history or ())
    context_read = False
    if semantic and history and text.strip():
        # The last few messages read together: a disclosure that leans on earlier turns.
        together = "\n".join([*history[-CONTEXT_TURNS:], text])
        joined = _classifier_verdict(_windows(together)[0], current, joined=True)
        if joined.rank > current.rank:
            context_read = True
            current = Screening(joined.category, joined.level, tuple(
                r + " (reading the last few messages together)" for r in joined.reasons))
    earlier = [_screen_cached(_check(h), semantic) for h in history]
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
    if current.category != floor.category or context_read:
        return Screening(current.category, current.level, current.reasons + (carried,))
    return current


def screen_many(texts: Sequence[str], *, semantic: bool = True) -> list[Screening]:
    """Screen independent messages in one batch (embeddings computed together)."""
    return _screen_batch(list(texts), semantic)
