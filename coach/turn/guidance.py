"""The guidance index as a turn uses it: searched with the person's role in mind, cited by id,
and kept out of the way (not fatal) while it is unavailable, then reopened after a pause."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .. import compose
from ..errors import IndexUnavailable
from ..flow import COACHING_STAGES, SessionState
from ..knowledge import Card
from ..safety.output_rails import RailContext, check_reply
from .types import Draft, add_notice

log = logging.getLogger("coach.engine")

# How long to wait before trying an unavailable guidance index again.
INDEX_RETRY_S = 5.0


class Guidance:
    """Search, filter and cite guidance cards for one coach (shared by its sessions)."""

    def __init__(self, index: Any = None) -> None:
        from ..retrieval import get_index

        self.retry_at = 0.0
        self.reopen = index is None  # only the shared index is reopened after a fault
        self._guard = threading.Lock()
        if index is None:
            try:
                index = get_index()
            except IndexUnavailable as exc:
                # Coaching goes on without guidance cards; the index is retried later.
                log.warning("guidance index unavailable at start: %s", exc)
                index = NoIndex(str(exc))
                self.retry_at = time.monotonic() + INDEX_RETRY_S
        self.index = index

    def card(self, card_id: str) -> Card | None:
        """A card by id (None when unknown or the index is unavailable)."""
        try:
            return self.index.card(card_id)
        except Exception:  # noqa: BLE001 - a missing card must not break a page
            return None

    def cited(self, out: Draft, card_id: str) -> list[Card]:
        """The card a scripted answer rests on, when the index has it."""
        if out.guidance_missing:
            return []
        try:
            card = self.usable().card(card_id)
        except IndexUnavailable:
            out.guidance_missing = True
            return []
        return [card] if card is not None else []

    def search(self, out: Draft, query: str, **kw: Any) -> list[Any]:
        """Search the index; when it is unavailable, note it on the draft and return no hits."""
        if out.guidance_missing:
            return []
        index = self.usable()
        try:
            return index.search(query, **kw)
        except IndexUnavailable as exc:
            log.warning("guidance index unavailable: %s", exc)
            out.guidance_missing = True
            out.notice = add_notice(out.notice, compose.prompts()["guidance_unavailable_notice"])
            out.events.append(("fallback", ["guidance index unavailable"]))
            if self.reopen:
                self.retry_at = time.monotonic() + INDEX_RETRY_S
                self.index = NoIndex(str(exc), previous=index)
            return []

    def safety_cards(self, out: Draft, query: str, k: int = 1) -> list[Card]:
        """The curated safety cards a protocol reply rests on."""
        return [h.card for h in self.search(out, query, k=k, stage="safety", include_user=False)]

    def cards(self, out: Draft, text: str, stages: list[str], state: SessionState, k: int = 3,
              include_user: bool = False) -> list[Card]:
        """The best unused cards for this person from these stages.

        Guidance written for the other partner is never given (nor, while the role is not known
        yet, guidance written for either one), and where abuse came up, nothing the abuse rail
        would stop.
        """
        query = text[-1500:]
        role = sure_role(state)
        hits = self.search(out, query, k=k + len(state.used_cards) + 4, stage=stages,
                           audience=state.audience if role != "unknown" else None,
                           include_user=include_user)
        cards = [h.card for h in hits if h.card.id not in state.used_cards
                 and (h.card.origin != "curated" or h.card.fits_role(role))]
        if not cards and role == "unknown" and set(stages) != set(COACHING_STAGES):
            # Nothing here fits everyone yet: a card from any stage that does, rather than one
            # that may have been written for the other partner.
            return self.cards(out, text, list(COACHING_STAGES), state, k + 8, include_user)[:k]
        if state.abuse_raised:
            cards = [c for c in cards if check_reply(
                f"{c.tip} {c.body}", RailContext(abuse_raised=True)).ok]
        return cards[:k]

    def usable(self) -> Any:
        """The index, reopened when it failed earlier and the retry delay has passed."""
        if not isinstance(self.index, NoIndex) or time.monotonic() < self.retry_at:
            return self.index
        from ..retrieval import get_index, reset_index_cache

        with self._guard:
            if isinstance(self.index, NoIndex):
                self.index.release()
                reset_index_cache()
                try:
                    self.index = get_index(build=False)
                    self.index.count()
                    log.info("guidance index available again")
                except IndexUnavailable as exc:
                    self.index = NoIndex(str(exc))
                    self.retry_at = time.monotonic() + INDEX_RETRY_S
        return self.index


# How much reading evidence a role needs before guidance written for that role alone is given:
# more than one exact statement ("I cheated on her") alone gives: an exact statement and a
# confident reading that agrees, or several confident readings.
ROLE_SURE = 1.6


def sure_role(state: SessionState) -> str:
    """The session's role when it is certain enough to act on, else "unknown" (guidance that
    fits everyone): a wrong first guess must never hand someone the other partner's card."""
    if state.role == "unknown":
        return "unknown"
    return state.role if state.role_evidence.get(state.role, 0.0) >= ROLE_SURE else "unknown"


class NoIndex:
    """Stands in for a guidance index that cannot be used: no cards, and says why."""

    def __init__(self, reason: str, previous: Any = None) -> None:
        self.reason = reason
        self._previous = previous

    def search(self, *_args: Any, **_kw: Any) -> list[Any]:
        raise IndexUnavailable(self.reason)

    def card(self, _card_id: str) -> None:
        return None

    def all_cards(self, *_args: Any) -> list[Card]:
        return []

    def count(self, *_args: Any) -> int:
        raise IndexUnavailable(self.reason)

    def release(self) -> None:
        """Let go of the failed index's client so a rebuilt folder is opened afresh."""
        close = getattr(self._previous, "close", None)
        self._previous = None
        if close is not None:
            try:
                close()
            except Exception:  # pragma: no cover - releasing must never raise
                pass
