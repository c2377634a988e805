"""Offline embeddings: real ONNX MiniLM, no network, consistent and cached for small calls."""

from __future__ import annotations

import numpy as np

from coach.embeddings import DIM, get_embedder


def test_vectors_are_normalised_and_meaningful():
    e = get_embedder()
    v = e.embed(["My partner cheated on me", "My boyfriend had an affair", "I like pizza"])
    assert v.shape == (3, DIM)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_batch_and_single_agree_and_small_calls_are_cached(monkeypatch):
    e = get_embedder()
    e.clear_cache()
    texts = [f"message number {i} about trust" for i in range(40)]
    batch = e.embed(texts)
    assert np.allclose(batch[7], e.embed_one(texts[7]), atol=1e-5)
    calls = []
    real = e._embed_batch
    monkeypatch.setattr(e, "_embed_batch", lambda t: calls.append(len(t)) or real(t))
    e.embed_one("a brand new sentence about jealousy")
    e.embed_one("a brand new sentence about jealousy")
    e.embed(["a brand new sentence about jealousy", "and another one"])
    assert calls == [1, 1]


def test_empty_and_blank_texts_do_not_crash():
    e = get_embedder()
    assert e.embed([]).shape == (0, DIM)
    assert e.embed(["", "   "]).shape == (2, DIM)
