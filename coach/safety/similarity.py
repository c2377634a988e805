"""The similarity layer of input screening: nearest labelled examples in embedding space."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from .types import CATEGORIES

DATA = Path(__file__).resolve().parent / "data"
# Chosen by leave-one-out over data/examples.yaml (353 examples: 41/236 risky found, 6/117 hard
# benign flagged) and checked on the gated messages of both eval sets, where a margin of 0.10
# kept every similarity catch of 0.08 with fewer false alarms. A risky neighbour must be this
# close, and closer than the nearest benign one by MARGIN.
THRESHOLD = 0.60
MARGIN = 0.10
MAX_CHARS = 1200  # MiniLM reads 256 tokens; longer text is cut into windows of this size


@dataclass(frozen=True)
class Match:
    """The verdict of the similarity layer for one text."""

    category: str  # "none" when nothing risky is close enough
    score: float  # cosine similarity of the nearest risky example
    benign_score: float  # cosine similarity of the nearest benign example


class ExampleIndex:
    """Labelled examples, embedded once, searched by cosine similarity."""

    def __init__(self, path: Path | None = None, embed=None) -> None:
        raw = yaml.safe_load((path or DATA / "examples.yaml").read_text(encoding="utf-8"))
        texts, labels = [], []
        for category, items in raw.items():
            if category not in CATEGORIES:
                raise ValueError(f"examples file has an unknown category {category!r}")
            for item in items:
                texts.append(str(item))
                labels.append(category)
        if embed is None:
            from ..embeddings import embed
        self._embed = embed
        self.texts = texts
        self.labels = np.array(labels)
        self.vectors = self._embed(texts)

    def match_vectors(self, vectors: np.ndarray) -> list[Match]:
        """Classify already-embedded texts."""
        if len(vectors) == 0:
            return []
        sims = vectors @ self.vectors.T  # both sides are L2-normalised
        benign = self.labels == "none"
        out = []
        for row in sims:
            risky_idx = int(np.argmax(np.where(benign, -1.0, row)))
            risky, safe = float(row[risky_idx]), float(row[benign].max(initial=-1.0))
            flagged = risky >= THRESHOLD and risky - safe >= MARGIN
            out.append(Match(str(self.labels[risky_idx]) if flagged else "none", risky, safe))
        return out

    def match(self, texts: Sequence[str]) -> list[Match]:
        """Classify texts (each cut to its first MAX_CHARS characters)."""
        return self.match_vectors(self._embed([t[:MAX_CHARS] for t in texts]))


_index: ExampleIndex | None = None
_lock = threading.Lock()


def default_index() -> ExampleIndex:
    """The packaged example index, built on first use (~0.1 s) and shared."""
    global _index
    with _lock:
        if _index is None:
            _index = ExampleIndex()
        return _index
