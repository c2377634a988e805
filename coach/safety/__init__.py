"""Safety rails: input screening, injection checks, protocols, referrals and output rails."""

from .injection import detect_injection
from .output_rails import StreamGuard, check_reply
from .protocols import safety_reply
from .referral import should_refer
from .screening import screen, screen_many
from .types import Screening

__all__ = [
    "Screening",
    "StreamGuard",
    "check_reply",
    "detect_injection",
    "safety_reply",
    "screen",
    "screen_many",
    "should_refer",
]
