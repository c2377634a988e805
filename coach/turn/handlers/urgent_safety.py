"""Risk in this message (or urgent risk across the recent ones): the crisis protocol."""

from __future__ import annotations

from ..context import TurnContext
from .common import protocol

NAME = "urgent_safety"


def applies(ctx: TurnContext) -> bool:
    return ctx.current.is_risk or ctx.screening.level == "urgent"


def handle(ctx: TurnContext) -> None:
    ctx.state.cleared = [c for c in ctx.state.cleared if c != ctx.screening.category]
    protocol(ctx, ctx.screening if ctx.screening.level == "urgent" else ctx.current)
