"""A small BM25 (Okapi) scorer with a plain English tokenizer and light stemming."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves i'm i've i'd i'll it's don't can't he's she's we're they're that's im ive dont
    cant really just like get got also even still much many""".split()
)
_SUFFIXES = ("ingly", "edly", "ness", "ment", "ing", "ies", "ied", "ed", "es", "ly", "s")


def stem(word: str) -> str:
    """Strip one common suffix so 'lied', 'lies' and 'lying' meet; crude but predictable."""
    if word.endswith("'s"):
        word = word[:-2]
    for suf in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            word = word[: -len(suf)]
            if suf in ("ies", "ied"):
                word += "y"
            break
    return word


def tokenize(text: str) -> list[str]:
    words = _WORD.findall(text.lower().replace("’", "'"))
    return [stem(w) for w in words if w not in STOPWORDS and len(w) > 1]


class BM25:
    """Okapi BM25 over a fixed list of documents (k1=1.5, b=0.75)."""

    def __init__(self, docs: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._tfs = [Counter(tokenize(d)) for d in docs]
        self._len = np.array([sum(tf.values()) for tf in self._tfs], dtype=np.float64)
        self._avg = float(self._len.mean()) if len(docs) else 0.0
        df: Counter[str] = Counter()
        for tf in self._tfs:
            df.update(tf.keys())
        n = len(docs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        # term -> (doc indexes, term frequencies) for fast scoring
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, tf in enumerate(self._tfs):
            for t, f in tf.items():
                p = postings.setdefault(t, ([], []))
                p[0].append(i)
                p[1].append(f)
        self._post = {t: (np.array(ix), np.array(fs, dtype=np.float64)) for t, (ix, fs) in postings.items()}
        self._norm = k1 * (1 - b + b * self._len / self._avg) if n else self._len

    def __len__(self) -> int:
        return len(self._tfs)

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(len(self._tfs), dtype=np.float64)
        for term in set(tokenize(query)):
            post = self._post.get(term)
            if post is None:
                continue
            ix, fs = post
            out[ix] += self._idf[term] * fs * (self.k1 + 1) / (fs + self._norm[ix])
        return out
