"""The verdict objects that safety checks return."""

from __future__ import annotations

from dataclasses import dataclass, field

CATEGORIES = (
    "none",
    "self_harm",
    "abuse",
    "harm_to_others",
    "child_safety",
    "medical_emergency",
    "surveillance",
)
# check_in: something may be wrong but it is unclear; the coach asks directly and kindly
# ("Are you safe at home right now?") and routes by the answer. It is not yet a risk.
LEVELS = ("none", "check_in", "concern", "urgent")
LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class Screening:
    """What input screening found in one user message (in the light of the history)."""

    category: str = "none"
    level: str = "none"
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown safety category {self.category!r}")
        if self.level not in LEVELS:
            raise ValueError(f"unknown safety level {self.level!r}")

    @property
    def is_risk(self) -> bool:
        """A risk the protocols answer (concern or urgent); check_in is not yet one."""
        return self.level in ("concern", "urgent")

    @property
    def needs_check_in(self) -> bool:
        return self.level == "check_in"

    @property
    def rank(self) -> int:
        return LEVEL_RANK[self.level]

    def to_dict(self) -> dict:
        return {"category": self.category, "level": self.level, "reasons": list(self.reasons)}
