"""The trained layer of input screening: logistic heads over sentence embeddings and word n-grams.

Features: the offline MiniLM embedding (384 numbers, L2-normalised) beside a hashed bag of word
unigrams and bigrams (HASH_DIM, binary, L2-normalised). Heads:
  <category>            P(this message carries risk of <category>): a small network (one ReLU
                        layer) with a softmax over none and the six risk categories,
                        calibrated by a temperature fitted out of fold
  <category>:concern    P(level is concern or urgent | category), logistic, Platt-calibrated
  <category>:urgent     P(level is urgent | category), logistic, Platt-calibrated
Weights ship in data/risk_model.npz; `python -m coach.safety.train` rebuilds them from
data/risk_train.jsonl and reproduces the metrics in data/risk_model.json.

No LLM is involved, and the patterns stay in front for exact, high-precision cases.
"""

from __future__ import annotations

import re
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .types import CATEGORIES

DATA = Path(__file__).resolve().parent / "data"
MODEL_FILE = DATA / "risk_model.npz"
RISK_CATEGORIES = tuple(c for c in CATEGORIES if c != "none")
HASH_DIM = 8192
# Categories where an unsure reading asks the person rather than saying nothing.
CHECK_IN_CATEGORIES = ("self_harm", "abuse", "child_safety", "harm_to_others",
                       "medical_emergency")
# Long messages are also read in pieces of about this many characters (risk in the middle of a
# paragraph about something else is otherwise diluted in one embedding).
CHUNK_CHARS = 300
MAX_CHUNKS = 8

_TOKEN = re.compile(r"[a-z0-9]+|[.,;:!?]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|[\r\n]+")
_NEGATORS = frozenset("not never no dont didnt doesnt isnt wasnt wont wouldnt cant cannot "
                      "couldnt havent hasnt aint nothing nobody neither nor without".split())
NEGATION_SCOPE = 3  # words after a negator that are marked as negated (until punctuation)
MIN_GRAMS = 12  # short texts are not scaled up: one word must not weigh like a paragraph


def clean(text: str) -> str:
    """The text as the classifier reads it: the patterns' slang rewrites applied and their
    curated idioms ("this is killing me") and quoted media lines blanked, sentence by sentence.
    """
    from . import patterns

    ps = patterns.default_patterns()
    return "\n".join(patterns.prepare(s, ps)[0]
                     for s in patterns.sentences(patterns.normalise(text, ps)))


def tokens(text: str) -> list[str]:
    """Lowercased words; apostrophes dropped ("don't" = "dont"); words in a negation's scope
    ("not suicidal", "never hit me") carry a "not_" mark so they differ from the plain word."""
    raw = _TOKEN.findall(text.lower().replace("\u2019", "'").replace("'", ""))
    out, scope = [], 0
    for tok in raw:
        if not tok[0].isalnum():
            scope = 0
            continue
        if tok in _NEGATORS:
            out.append(tok)
            scope = NEGATION_SCOPE
            continue
        out.append(f"not_{tok}" if scope else tok)
        scope = max(scope - 1, 0)
    return out


def hashed_ngrams(texts: Sequence[str]) -> np.ndarray:
    """Signed hashed unigrams + bigrams (float32, len(texts) x HASH_DIM), each row scaled by
    1/sqrt(max(n, MIN_GRAMS)) so a one-word message is not blown up to a full-length one."""
    out = np.zeros((len(texts), HASH_DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        words = tokens(text)
        grams = set(words + [f"{a} {b}" for a, b in zip(words, words[1:])])
        for g in grams:
            h = zlib.crc32(g.encode())
            out[i, h % HASH_DIM] += 1.0 if (h >> 31) & 1 else -1.0
        out[i] /= np.sqrt(max(len(grams), MIN_GRAMS))
    return out


def features(texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
    """The classifier's input for `texts` (embeddings of the cleaned texts unless given)."""
    # Lone surrogates ("\udc80") can't be encoded: replace them rather than fail the turn.
    cleaned = [clean(t.encode("utf-8", "replace").decode("utf-8")) for t in texts]
    if vectors is None:
        from ..embeddings import embed

        vectors = embed(cleaned)
    return np.hstack([np.asarray(vectors, dtype=np.float32), hashed_ngrams(cleaned)])


def chunks(text: str) -> list[str]:
    """The pieces of a message that are read: the whole, plus runs of sentences if it is long."""
    text = text.strip()
    if len(text) <= CHUNK_CHARS:
        return [text] if text else []
    pieces, current = [], ""
    for sentence in (s.strip() for s in _SENTENCE.split(text)):
        if not sentence:
            continue
        if current and len(current) + len(sentence) > CHUNK_CHARS:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}".strip()[:4 * CHUNK_CHARS]
    if current:
        pieces.append(current)
    return [text[:4000]] + pieces[:MAX_CHUNKS]


@dataclass(frozen=True)
class Reading:
    """The classifier's view of one text: calibrated probabilities per head."""

    probs: dict[str, float]

    def category(self) -> tuple[str, float]:
        """The most likely risk category and its probability."""
        best = max(RISK_CATEGORIES, key=lambda c: self.probs[c])
        return best, self.probs[best]


def category_logits(mlp: Sequence[np.ndarray], X: np.ndarray) -> np.ndarray:
    W1, b1, W2, b2 = mlp
    return np.maximum(X @ W1 + b1, 0.0) @ W2 + b2


class RiskModel:
    """Category softmax (none + risk categories, temperature-calibrated) and level heads."""

    def __init__(self, mlp: Sequence[np.ndarray], temperature: float,
                 level_heads: Sequence[str], Wl: np.ndarray, bl: np.ndarray, platt: np.ndarray,
                 thresholds: dict[str, float], version: str = "") -> None:
        self.classes = ("none",) + RISK_CATEGORIES
        # The category head: features -> ReLU hidden layer -> softmax over self.classes.
        self.W1, self.b1, self.W2, self.b2 = (np.asarray(a, dtype=np.float32) for a in mlp)
        self.temperature = float(temperature)
        self.level_heads = list(level_heads)
        self.Wl = np.asarray(Wl, dtype=np.float32)
        self.bl = np.asarray(bl, dtype=np.float32)
        self.platt = np.asarray(platt, dtype=np.float32)
        self.thresholds = dict(thresholds)
        self.version = version

    @property
    def heads(self) -> list[str]:
        return list(RISK_CATEGORIES) + self.level_heads

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> "RiskModel":
        with np.load(path, allow_pickle=False) as z:
            names = [str(n) for n in z["threshold_names"]]
            thresholds = dict(zip(names, (float(v) for v in z["threshold_values"])))
            return cls((z["W1"], z["b1"], z["W2"], z["b2"]), float(z["temperature"]),
                       [str(h) for h in z["level_heads"]], z["Wl"], z["bl"], z["platt"],
                       thresholds, str(z["version"]))

    def save(self, path: Path = MODEL_FILE) -> None:
        np.savez_compressed(
            path, W1=self.W1.astype(np.float16), b1=self.b1, W2=self.W2, b2=self.b2,
            temperature=self.temperature,
            level_heads=np.array(self.level_heads), Wl=self.Wl.astype(np.float16), bl=self.bl,
            platt=self.platt, threshold_names=np.array(list(self.thresholds)),
            threshold_values=np.array(list(self.thresholds.values()), dtype=np.float32),
            version=np.array(self.version))

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Columns in `heads` order: P(category) from the softmax, then P(level | category)."""
        Z = category_logits((self.W1, self.b1, self.W2, self.b2), X) / self.temperature
        Z -= Z.max(1, keepdims=True)
        Pc = np.exp(Z)
        Pc /= Pc.sum(1, keepdims=True)
        zl = (X @ self.Wl.T + self.bl) * self.platt[:, 0] + self.platt[:, 1]
        Pl = 1.0 / (1.0 + np.exp(-np.clip(zl, -30, 30)))
        return np.hstack([Pc[:, 1:], Pl])

    def read(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[Reading]:
        """Readings for whole texts (no chunking)."""
        if not texts:
            return []
        P = self.probabilities(features(texts, vectors))
        heads = self.heads
        return [Reading(dict(zip(heads, map(float, row)))) for row in P]

    def read_message(self, text: str) -> Reading:
        """A message read whole and in pieces; each category keeps its highest probability."""
        parts = chunks(text)
        if not parts:
            return Reading({h: 0.0 for h in self.heads})
        readings = self.read(parts)
        if len(readings) == 1:
            return readings[0]
        # Category: the max over pieces. Level heads: from the piece that carries the most
        # likely category, so a calm sentence does not lower a frightening one.
        probs = {c: max(r.probs[c] for r in readings) for c in RISK_CATEGORIES}
        for cat in RISK_CATEGORIES:
            top = max(readings, key=lambda r: r.probs[cat])
            for suffix in (":concern", ":urgent"):
                probs[cat + suffix] = top.probs[cat + suffix]
        return Reading(probs)

    def level(self, reading: Reading, acting_only: bool = False) -> tuple[str, str, float]:
        """(category, level, probability) from a reading alone, with the shipped thresholds.

        At `strong` or above the level heads decide (urgent from `urgent_alone`, else concern;
        check_in where they say less); between `check_in` and `strong` the coach asks rather
        than acts, in the categories where a question makes sense (not with `acting_only`: the
        reading of several messages together, where a vague sense of risk is mostly the earlier
        messages' own).
        """
        category, p = reading.category()
        if p >= self.thresholds.get("strong", 0.8):
            # Alone, urgent needs the category head sure and the urgent head surer still
            # (no urgent_alone threshold in an older model file: never urgent alone).
            if reading.probs[category + ":urgent"] >= self.thresholds.get("urgent_alone", 2.0):
                return category, "urgent", p
            if reading.probs[category + ":concern"] >= self.thresholds.get("concern", 0.5):
                return category, "concern", p
            if category in CHECK_IN_CATEGORIES:
                return ("none", "none", p) if acting_only else (category, "check_in", p)
            return category, "concern", p
        if (p >= self.thresholds.get("check_in", 0.5) and category in CHECK_IN_CATEGORIES
                and not acting_only):
            return category, "check_in", p
        return "none", "none", p

    def urgent(self, reading: Reading, category: str) -> bool:
        """True when the reading backs `category` and its level head says urgent."""
        return (reading.probs[category] >= self.thresholds.get("check_in", 0.5)
                and reading.probs[category + ":urgent"] >= self.thresholds.get("urgent", 0.5))


_MODEL: RiskModel | None = None
_LOCK = threading.Lock()


def default_model() -> RiskModel:
    """The shipped model, loaded once."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            _MODEL = RiskModel.load()
        return _MODEL
