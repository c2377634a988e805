"""The guidance cards as a LangChain retriever (exposed as `coach.retrieval.GuidanceRetriever`).

    from coach.retrieval import GuidanceRetriever

    retriever = GuidanceRetriever(k=3, role="hurt_partner")
    docs = retriever.invoke("how do I stop checking his phone?")
    docs[0].metadata["title"], docs[0].page_content

It runs the coach's own hybrid search (dense MiniLM + BM25, fused by reciprocal rank) over the
same Chroma index, with the same filters: `stage`, `audience` (the card's written-for field),
`role` (only cards that fit that person: guidance for the other partner is never returned) and
`include_user` (the person's own ingested notes).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field


def card_document(card: Any, score: float | None = None) -> Document:
    """One card as a Document: the body as text, everything else as metadata."""
    meta: dict[str, Any] = {
        "id": card.id, "title": card.title, "stage": card.stage, "audience": card.audience,
        "tip": card.tip, "questions": list(card.questions), "topics": list(card.topics),
        "sources": list(card.sources), "origin": card.origin, "fits": list(card.fits),
        "say": list(card.say), "actions": {r: list(a) for r, a in card.actions},
    }
    if score is not None:
        meta["score"] = score
    return Document(page_content=card.body, metadata=meta, id=card.id)


class GuidanceRetriever(BaseRetriever):
    """Hybrid search over the coach's guidance cards, returning LangChain Documents."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int = Field(default=4, ge=1, le=50)
    stage: str | list[str] | None = None
    audience: str | None = None
    role: str | None = None
    include_user: bool = True
    mode: str = "hybrid"
    index: Any = None  # a coach.retrieval.Index; the shared one when None

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        from .retrieval import get_index

        index = self.index or get_index()
        # Ask for more when filtering by role afterwards, so k cards still come back.
        want = self.k * 3 if self.role else self.k
        hits = index.search(query, k=want, stage=self.stage, audience=self.audience,
                            mode=self.mode, include_user=self.include_user)
        if self.role:
            hits = [h for h in hits if h.card.fits_role(self.role)]
        return [card_document(h.card, h.score) for h in hits[: self.k]]
