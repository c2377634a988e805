"""Safety rails: input screening here; protocols and output rails in their own modules."""

from .screening import screen, screen_many
from .types import Screening

__all__ = ["Screening", "screen", "screen_many"]
