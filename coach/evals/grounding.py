"""Grounding: is each guidance sentence supported by a cited card? Offline, calibrated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import yaml

from ..config import data_dir
from ..errors import InputError
from .detectors import sentences, settings


def card_sentences(card: Any) -> list[str]:
    """What a card says, one sentence each: title, tip, questions, body, phrasings, actions."""
    actions = [a for _, items in getattr(card, "actions", ()) for a in items]
    extra = [part for text in (*getattr(card, "say", ()), *actions) for part in sentences(text)]
    out = [card.title, card.tip, *card.questions, *sentences(card.body), *extra]
    return [s for s in out if s and len(s.split()) >= 3]


@dataclass
class Support:
    sentence: str
    score: float
    supported: bool
    best: str = ""


class Grounder:
    """Scores sentences against cards' sentences with `embed` (cosine of normalised vectors)."""

    def __init__(self, lookup: Callable[[str], Any], threshold: float | None = None,
                 embed: Callable[[list[str]], np.ndarray] | None = None) -> None:
        if embed is None:
            from ..embeddings import embed as embed
        self.embed = embed
        self.lookup = lookup
        cfg = settings()["grounding"]
        self.threshold = float(cfg["threshold"] if threshold is None else threshold)
        self.min_words = int(cfg.get("min_words", 5))
        self._cards: dict[str, tuple[list[str], np.ndarray] | None] = {}
        self._texts: dict[str, np.ndarray] = {}
        self._pools: dict[tuple[str, ...], tuple[list[str], np.ndarray | None]] = {}

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of texts, each computed once (replies repeat card wording a lot)."""
        # Sorted by length so each batch pads to similar lengths (padding dominates the cost).
        new = sorted((t for t in dict.fromkeys(texts) if t not in self._texts), key=len)
        if new:
            for t, v in zip(new, self.embed(new)):
                self._texts[t] = v
        return np.vstack([self._texts[t] for t in texts])

    def prepare(self, card_ids: Sequence[str]) -> None:
        """Embed many cards' sentences in one sorted pass (much faster than card by card)."""
        todo = {cid: card_sentences(c) for cid in card_ids
                if cid not in self._cards and (c := self.lookup(cid)) is not None}
        self._vectors([s for ss in todo.values() for s in ss])
        for cid, ss in todo.items():
            self._cards[cid] = (ss, self._vectors(ss)) if ss else None

    def _pool(self, card_ids: Sequence[str]) -> tuple[list[str], np.ndarray | None]:
        key = tuple(dict.fromkeys(card_ids))
        if key not in self._pools:
            pool: list[str] = []
            vecs = []
            for cid in key:
                got = self._card(cid)
                if got:
                    pool += got[0]
                    vecs.append(got[1])
            self._pools[key] = (pool, np.vstack(vecs) if vecs else None)
        return self._pools[key]

    def _card(self, card_id: str) -> tuple[list[str], np.ndarray] | None:
        if card_id not in self._cards:
            card = self.lookup(card_id)
            ss = card_sentences(card) if card is not None else []
            self._cards[card_id] = (ss, self._vectors(ss)) if ss else None
        return self._cards[card_id]

    def scores(self, texts: Sequence[str], card_ids: Sequence[str]) -> list[Support]:
        """Best match of each text among the cited cards' sentences."""
        if not texts:
            return []
        pool, matrix = self._pool(card_ids)
        if matrix is None:
            return [Support(t, 0.0, False) for t in texts]
        sims = self._vectors(list(texts)) @ matrix.T
        out = []
        for t, row in zip(texts, sims):
            j = int(np.argmax(row))
            score = float(row[j])
            out.append(Support(t, score, score >= self.threshold, pool[j]))
        return out


# ---- calibration --------------------------------------------------------------------------

@dataclass(frozen=True)
class Pair:
    card: str
    sentence: str
    supported: bool


def load_pairs(path: Path | None = None) -> list[Pair]:
    path = path or data_dir("evals") / "grounding_pairs.yaml"
    rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    pairs = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not {"card", "sentence", "supported"} <= set(row):
            raise InputError(f"{path.name}: pair {n}: needs card, sentence and supported")
        pairs.append(Pair(str(row["card"]), str(row["sentence"]), bool(row["supported"])))
    return pairs


def _auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def calibrate(grounder: Grounder, pairs: list[Pair]) -> dict[str, Any]:
    """Score labelled pairs; the threshold that best separates them (balanced accuracy)."""
    rows = []
    for p in pairs:
        if grounder.lookup(p.card) is None:
            raise InputError(f"grounding pairs: card {p.card!r} is not in the index")
        s = grounder.scores([p.sentence], [p.card])[0]
        rows.append({"card": p.card, "sentence": p.sentence, "supported": p.supported,
                     "score": round(s.score, 4), "best": s.best})
    pos = [r["score"] for r in rows if r["supported"]]
    neg = [r["score"] for r in rows if not r["supported"]]

    def balanced(th: float) -> float:
        tpr = sum(s >= th for s in pos) / max(len(pos), 1)
        tnr = sum(s < th for s in neg) / max(len(neg), 1)
        return (tpr + tnr) / 2

    cands = sorted({round(x, 2) for x in np.arange(0.30, 0.91, 0.01)})
    best_acc = max(balanced(t) for t in cands)
    # Among equally good thresholds take the middle one: the widest margin on both sides.
    ties = [t for t in cands if balanced(t) == best_acc]
    best = ties[len(ties) // 2]
    used = grounder.threshold
    for r in rows:
        r["passes"] = r["score"] >= used
    return {
        "pairs": len(rows), "supported": len(pos), "unsupported": len(neg),
        "auc": _auc(pos, neg), "best_threshold": best, "best_balanced_accuracy": best_acc,
        "threshold": used, "balanced_accuracy": balanced(used),
        "supported_min": min(pos, default=float("nan")),
        "unsupported_max": max(neg, default=float("nan")),
        "errors": [r for r in rows if r["passes"] != r["supported"]], "rows": rows,
    }
