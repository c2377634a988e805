"""Hybrid retrieval over the guidance cards in Chroma: dense vectors + BM25, fused by RRF.

Embedded Chroma (`PersistentClient` under COACH_HOME) by default; `COACH_CHROMA_URL` points at
a Chroma server instead (`chroma run`), which is how a deployment outgrows one machine.
Curated cards and user-added material live in separate collections.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlparse

from . import config
from .bm25 import BM25
from .embeddings import MODEL_NAME, get_embedder
from .errors import IndexUnavailable, InputError
from .knowledge import Card, chunk_user_file, iter_user_files, load_cards

CURATED = "trust_coach_cards"
USER = "trust_coach_user"
MAX_QUERY_CHARS = 4000
RRF_K = 60


# ---- Chroma embedding function --------------------------------------------------------

def _embedding_function_class() -> type:
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    class CoachMiniLM(EmbeddingFunction[Documents]):
        """Offline int8 MiniLM embeddings, registered so a reopened collection finds it."""

        def __init__(self) -> None:
            pass

        def __call__(self, input: Documents) -> Embeddings:
            return list(get_embedder().embed(list(input)))

        @staticmethod
        def name() -> str:
            return "trust-coach-minilm-int8"

        def get_config(self) -> dict[str, Any]:
            return {"model": MODEL_NAME}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> "CoachMiniLM":
            return CoachMiniLM()

        def default_space(self) -> str:  # type: ignore[override]
            return "cosine"

    register_embedding_function(CoachMiniLM)
    return CoachMiniLM


_EF_CLASS: type | None = None


def embedding_function() -> Any:
    global _EF_CLASS
    if _EF_CLASS is None:
        _EF_CLASS = _embedding_function_class()
    return _EF_CLASS()


# ---- results --------------------------------------------------------------------------

@dataclass(frozen=True)
class Hit:
    card: Card
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None

    def to_dict(self, with_text: bool = True) -> dict[str, Any]:
        c = self.card
        d: dict[str, Any] = {
            "id": c.id, "title": c.title, "stage": c.stage, "audience": c.audience,
            "score": round(self.score, 6), "origin": c.origin,
            "tip": c.tip, "questions": list(c.questions),
        }
        if with_text:
            d["text"] = c.body
        return d


def _meta(card: Card) -> dict[str, Any]:
    return {
        "title": card.title, "stage": card.stage, "audience": card.audience,
        "topics": ",".join(card.topics), "sources": ",".join(card.sources),
        "tip": card.tip, "questions": "\n".join(card.questions), "hash": card.content_hash,
        "origin": card.origin, "path": card.path,
        "extra": json.dumps({"fits": card.fits, "answers": card.answers, "say": card.say,
                             "actions": [[r, list(a)] for r, a in card.actions],
                             "question_roles": [list(r) for r in card.question_roles]}),
    }


def _card_from(id_: str, doc: str, meta: dict[str, Any]) -> Card:
    try:
        extra = json.loads(meta.get("extra") or "{}")
    except ValueError:
        extra = {}
    return Card(
        id=id_, title=meta.get("title", id_), stage=meta.get("stage", "understand"),
        topics=tuple(t for t in str(meta.get("topics", "")).split(",") if t),
        audience=meta.get("audience", "both"),
        sources=tuple(s for s in str(meta.get("sources", "")).split(",") if s),
        body=doc or "", tip=meta.get("tip", "") or "",
        questions=tuple(q for q in str(meta.get("questions", "")).split("\n") if q),
        origin=meta.get("origin", "curated"), path=meta.get("path", ""),
        fits=tuple(extra.get("fits", ())), answers=tuple(extra.get("answers", ())),
        say=tuple(extra.get("say", ())),
        actions=tuple((r, tuple(a)) for r, a in extra.get("actions", ())),
        question_roles=tuple(tuple(r) for r in extra.get("question_roles", ())),
    )


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    errors: list[str] | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"added {self.added}, updated {self.updated}, removed {self.removed}, "
                f"unchanged {self.unchanged}")


# ---- the index ------------------------------------------------------------------------

def _client() -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    url = config.chroma_url()
    try:
        if url:
            parsed = urlparse(url if "://" in url else f"http://{url}")
            client = chromadb.HttpClient(
                host=parsed.hostname or "127.0.0.1", port=parsed.port or 8000,
                ssl=parsed.scheme == "https", settings=settings,
            )
            client.heartbeat()
            return client
        path = config.coach_home() / "chroma"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:  # chromadb raises many types; all mean "not usable"
        where = f"the Chroma server at {url}" if url else "the local index"
        raise IndexUnavailable(f"Can't open {where}: {_short(exc)}") from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


class Index:
    """The card index: ingest (incremental) and hybrid search."""

    def __init__(self) -> None:
        self._client = _client()
        self._lock = threading.RLock()
        self._ef = embedding_function()
        self._collections: dict[str, Any] = {}
        self._bm25: dict[str, tuple[BM25, list[Card]]] = {}
        self.synced = False  # curated cards checked against knowledge/ in this process

    def close(self) -> None:
        """Let go of the Chroma client (an embedded index's files are released)."""
        close = getattr(self._client, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
        self._collections.clear()

    def _collection(self, name: str) -> Any:
        if name not in self._collections:
            try:
                self._collections[name] = self._client.get_or_create_collection(
                    name, embedding_function=self._ef, metadata={"hnsw:space": "cosine"},
                )
            except Exception as exc:
                raise IndexUnavailable(f"Can't open the card index: {_short(exc)}") from exc
        return self._collections[name]

    # -- ingest --
    def _sync(self, name: str, cards: Sequence[Card], keep: Iterable[str] = ()) -> IngestReport:
        """Make collection `name` hold exactly `cards` (+ ids in `keep`), embedding only changes."""
        col = self._collection(name)
        report = IngestReport()
        try:
            existing = col.get(include=["metadatas"])
        except Exception as exc:
            raise IndexUnavailable(f"Can't read the card index: {_short(exc)}") from exc
        old = {i: (m or {}).get("hash") for i, m in zip(existing["ids"], existing["metadatas"])}
        new_ids = {c.id for c in cards}
        changed = [c for c in cards if old.get(c.id) != c.content_hash]
        report.added = sum(1 for c in changed if c.id not in old)
        report.updated = len(changed) - report.added
        report.unchanged = len(cards) - len(changed)
        gone = [i for i in old if i not in new_ids and i not in set(keep)]
        try:
            for start in range(0, len(changed), 64):
                batch = changed[start : start + 64]
                col.upsert(
                    ids=[c.id for c in batch], documents=[c.text for c in batch],
                    metadatas=[_meta(c) for c in batch],
                )
            if gone:
                col.delete(ids=gone)
        except Exception as exc:
            raise IndexUnavailable(f"Can't update the card index: {_short(exc)}") from exc
        report.removed = len(gone)
        with self._lock:
            self._bm25.pop(name, None)
        return report

    def ingest_curated(self, directory: Path | None = None) -> IngestReport:
        t0 = time.perf_counter()
        result = load_cards(directory)
        # A card that fails validation keeps its last good version in the index.
        broken = {e.split(":", 1)[0].removesuffix(".md") for e in result.errors}
        report = self._sync(CURATED, result.cards, keep=broken)
        report.errors = result.errors
        report.seconds = time.perf_counter() - t0
        return report

    def ingest_user(self, paths: Sequence[Path]) -> IngestReport:
        """Add or refresh user material; files not named keep their chunks."""
        t0 = time.perf_counter()
        files, errors = iter_user_files(paths)
        cards: list[Card] = []
        for f in files:
            try:
                cards.extend(chunk_user_file(f))
            except (ValueError, OSError) as exc:
                errors.append(str(exc))
        touched = {c.path for c in cards}
        col = self._collection(USER)
        existing = col.get(include=["metadatas"])
        keep = [i for i, m in zip(existing["ids"], existing["metadatas"])
                if (m or {}).get("path") not in touched]
        keep_cards = self._cards_from_ids(USER, keep)
        report = self._sync(USER, [*keep_cards, *cards])
        report.unchanged -= len(keep_cards)
        report.errors = errors
        report.seconds = time.perf_counter() - t0
        return report

    def remove_user(self, path: str | None = None) -> int:
        """Delete user material (one file's chunks, or all of it), leaving no copy on disk."""
        col = self._collection(USER)
        existing = col.get(include=["metadatas"])
        ids = [i for i, m in zip(existing["ids"], existing["metadatas"])
               if path is None or (m or {}).get("path") == str(Path(path).resolve())]
        if not ids:
            return 0
        keep = self._cards_from_ids(USER, [i for i in existing["ids"] if i not in set(ids)])
        try:
            # Chroma keeps every added document in its write-ahead log; only dropping the whole
            # collection clears those copies, so the chunks that stay are added back.
            self._client.delete_collection(USER)
        except Exception as exc:
            raise IndexUnavailable(f"Can't update the card index: {_short(exc)}") from exc
        self._collections.pop(USER, None)
        with self._lock:
            self._bm25.pop(USER, None)
        if keep:
            self._sync(USER, keep)
        self._compact()
        return len(ids)

    def _compact(self) -> None:
        """Rewrite an embedded index's database so freed pages keep no old text (best effort)."""
        if config.chroma_url():
            return
        import sqlite3

        db = config.coach_home() / "chroma" / "chroma.sqlite3"
        with contextlib.suppress(sqlite3.Error, OSError):
            conn = sqlite3.connect(db, timeout=5)
            try:
                conn.execute("VACUUM")
            finally:
                conn.close()

    def _cards_from_ids(self, name: str, ids: Sequence[str]) -> list[Card]:
        if not ids:
            return []
        got = self._collection(name).get(ids=list(ids), include=["documents", "metadatas"])
        return [_card_from(i, self._strip_doc(d, m), m or {})
                for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]

    @staticmethod
    def _strip_doc(doc: str | None, meta: dict[str, Any] | None) -> str:
        """Recover the body from the embedded text (title, topics and tip are prepended)."""
        doc = doc or ""
        meta = meta or {}
        head = f"{meta.get('title', '')}\n{' '.join(str(meta.get('topics', '')).split(','))}\n{meta.get('tip', '')}\n"
        return doc[len(head):].strip() if doc.startswith(head) else doc

    def count(self, name: str = CURATED) -> int:
        try:
            return int(self._collection(name).count())
        except IndexUnavailable:
            raise
        except Exception as exc:
            raise IndexUnavailable(f"Can't read the card index: {_short(exc)}") from exc

    def all_cards(self, name: str = CURATED) -> list[Card]:
        return self._lexical(name)[1]

    def card(self, card_id: str) -> Card | None:
        for name in (CURATED, USER):
            for c in self._lexical(name)[1]:
                if c.id == card_id:
                    return c
        return None

    # -- search --
    def _lexical(self, name: str) -> tuple[BM25, list[Card]]:
        with self._lock:
            if name not in self._bm25:
                try:
                    got = self._collection(name).get(include=["documents", "metadatas"])
                except Exception as exc:
                    raise IndexUnavailable(f"Can't read the card index: {_short(exc)}") from exc
                cards = [_card_from(i, self._strip_doc(d, m), m or {})
                         for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
                self._bm25[name] = (BM25([c.text for c in cards]), cards)
            return self._bm25[name]

    def search(self, query: str, k: int = 4, stage: str | Sequence[str] | None = None,
               audience: str | None = None, mode: str = "hybrid",
               include_user: bool = True) -> list[Hit]:
        """Best `k` cards for `query`; `mode` is "hybrid", "dense" or "lexical"."""
        query = validate_query(query)
        stages = [stage] if isinstance(stage, str) else list(stage or [])
        names = [CURATED] + ([USER] if include_user else [])
        fused: dict[str, float] = {}
        ranks: dict[str, dict[str, int]] = {}
        cards: dict[str, Card] = {}
        qvec = get_embedder().embed_one(query) if mode != "lexical" else None
        pool = max(k * 4, 20)
        for name in names:
            bm25, all_cards = self._lexical(name)
            if not all_cards:
                continue
            allowed = [i for i, c in enumerate(all_cards) if _passes(c, stages, audience)]
            if not allowed:
                continue
            for c in all_cards:
                cards[c.id] = c
            if mode in ("hybrid", "dense"):
                dense_ids = self._dense(name, qvec, min(pool, len(allowed)), stages, audience)
                for r, cid in enumerate(dense_ids):
                    ranks.setdefault(cid, {})["dense"] = r + 1
            if mode in ("hybrid", "lexical"):
                scores = bm25.scores(query)
                order = sorted(allowed, key=lambda i: -scores[i])[:pool]
                for r, i in enumerate(order):
                    if scores[i] > 0:
                        ranks.setdefault(all_cards[i].id, {})["lexical"] = r + 1
        for cid, rk in ranks.items():
            fused[cid] = sum(1.0 / (RRF_K + r) for r in rk.values())
        best = sorted(fused, key=lambda c: (-fused[c], c))[:k]
        return [Hit(cards[c], fused[c], ranks[c].get("dense"), ranks[c].get("lexical"))
                for c in best if c in cards]

    def _dense(self, name: str, qvec: Any, n: int, stages: list[str],
               audience: str | None) -> list[str]:
        where = _where(stages, audience)
        try:
            res = self._collection(name).query(
                query_embeddings=[qvec.tolist()], n_results=max(1, n),
                where=where, include=[],
            )
        except Exception as exc:
            raise IndexUnavailable(f"Can't search the card index: {_short(exc)}") from exc
        return list(res["ids"][0])


def _passes(card: Card, stages: list[str], audience: str | None) -> bool:
    if stages and card.stage not in stages:
        return False
    if audience and audience != "both" and card.audience not in (audience, "both"):
        return False
    return True


def _where(stages: list[str], audience: str | None) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if stages:
        clauses.append({"stage": stages[0]} if len(stages) == 1 else {"stage": {"$in": stages}})
    if audience and audience != "both":
        clauses.append({"audience": {"$in": [audience, "both"]}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def validate_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InputError("The question is empty: type a few words about what is on your mind.")
    if len(query) > MAX_QUERY_CHARS:
        raise InputError(
            f"The question is too long ({len(query):,} characters; the limit is "
            f"{MAX_QUERY_CHARS:,}). Please shorten it."
        )
    return query.strip()


_shared: Index | None = None
_shared_key: tuple[str, str | None] | None = None
_shared_lock = threading.Lock()


def get_index(build: bool = True) -> Index:
    """The process-wide index for the current COACH_HOME / COACH_CHROMA_URL.

    With `build`, the curated collection is brought up to date with `knowledge/` once per
    process (by content hash: only new or changed cards are embedded, ~70 ms when none are), so
    an upgraded coach never answers from stale cards.
    """
    global _shared, _shared_key
    key = (str(config.coach_home()), config.chroma_url())
    with _shared_lock:
        if _shared is None or _shared_key != key:
            _shared, _shared_key = Index(), key
        index = _shared
    if build and not index.synced:
        index.ingest_curated()
        index.synced = True
    return index


def rebuild_local_index() -> Index:
    """Replace a damaged embedded index with a fresh one built from the curated cards.

    User material has to be added again (its files are still where they were).
    """
    global _shared, _shared_key
    if config.chroma_url():
        raise IndexUnavailable("The Chroma server can't be rebuilt from here; check the server.")
    with _shared_lock:
        old, _shared, _shared_key = _shared, None, None
    if old is not None:
        old.close()
    path = config.coach_home() / "chroma"
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        # Chroma keeps one system per path; a damaged one must not be handed out again.
        SharedSystemClient._identifier_to_system.pop(str(path), None)
        SharedSystemClient._identifier_to_refcount.pop(str(path), None)
    except (ImportError, AttributeError):
        pass
    shutil.rmtree(path, ignore_errors=True)
    index = get_index(build=False)
    index.ingest_curated()
    return index


def reset_index_cache() -> None:
    global _shared, _shared_key
    with _shared_lock:
        _shared, _shared_key = None, None


def __getattr__(name: str) -> Any:
    # The LangChain retriever loads langchain-core only when someone asks for it.
    if name == "GuidanceRetriever":
        from .lc_retriever import GuidanceRetriever

        return GuidanceRetriever
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
