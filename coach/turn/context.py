"""The one object every step of a turn reads: who is talking, what they said, how it was read,
and the draft reply the chosen handler writes into."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..flow import SessionState, TurnPlan, plan_turn
from ..knowledge import Card
from ..reading import Reading
from ..safety.types import Screening
from .types import Draft


@dataclass
class TurnContext:
    """One message on its way to a reply.

    Read-only for handlers: `text`, `screening` (this message with the recent conversation),
    `current` (this message alone), `reading`, `past`, `region`, `pending_check_in` and
    `check_in_answer`. Handlers write the reply into `out` and may update `state`, which the
    store step saves once, after the reply.
    """

    coach: Any                 # the services: guidance, reflector, strategy, store description
    session_id: str
    text: str
    region: str
    state: SessionState
    past: list[str]            # earlier user messages (most recent last)
    screening: Screening
    current: Screening
    reading: Reading
    turn_idx: int              # the stored user turn
    said_region: str | None = None
    pending_check_in: str = ""  # the risk the coach asked about directly last turn
    check_in_answer: str = ""   # "yes", "no", "other" or "" when nothing was asked
    out: Draft = field(default_factory=lambda: Draft(stage="welcome"))
    route: str = ""
    stop: Any = None            # a threading.Event the caller sets to stop a streaming reply
    _plan: TurnPlan | None = None

    @property
    def plan(self) -> TurnPlan:
        """Where the session's map points for this message (decided once, before the reply)."""
        if self._plan is None:
            self._plan = plan_turn(self.state, self.text)
        return self._plan

    @property
    def seed(self) -> int:
        """Varies scripted wording from one message to the next."""
        return self.state.turn_no

    # ---- guidance, with this turn's draft and role ----------------------------------------
    def cards(self, query: str, stages: list[str], k: int = 3) -> list[Card]:
        # The composer needs a card's tip and questions, which only curated cards have; a
        # strong model can use the person's own material too.
        mine = self.coach.strategy == "full" and self.coach.llm is not None
        return self.coach.guidance.cards(self.out, query, stages, self.state, k=k,
                                         include_user=mine)

    def cited(self, card_id: str) -> list[Card]:
        return self.coach.guidance.cited(self.out, card_id)

    def safety_cards(self, query: str, k: int = 1) -> list[Card]:
        return self.coach.guidance.safety_cards(self.out, query, k=k)

    def say(self, text: str, trusted: bool = True) -> None:
        """Add a part of the reply; trusted parts are our reviewed wording, shown as they are."""
        self.out.parts.append(text)
        if trusted:
            self.out.trusted.append(text)

    def scripted(self) -> None:
        self.out.backend = "scripted"
