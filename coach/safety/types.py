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
LEVELS = ("none", "concern", "urgent")


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
        return self.level != "none"

    def to_dict(self) -> dict:
        return {"category": self.category, "level": self.level, "reasons": list(self.reasons)}
