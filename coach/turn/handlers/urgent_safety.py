"""Risk in this message (or urgent risk across the recent ones): the crisis protocol."""

from __future__ import annotations

from ..context import TurnContext
from .common import protocol

NAME = "urgent_safety"


def applies(ctx: TurnContext) -> bool:
    # Urgent only in the light of the earlier messages, and already answered with the urgent
    # protocol: the follow-up route keeps safety first without repeating the whole protocol.
    s = ctx.screening
    return ctx.current.is_risk or (s.level == "urgent"
                                   and s.category not in ctx.state.urgent_given)


def handle(ctx: TurnContext) -> None:
    ctx.state.cleared = [c for c in ctx.state.cleared if c != ctx.screening.category]
    if ctx.screening.level == "urgent" and ctx.screening.category not in ctx.state.urgent_given:
        ctx.state.urgent_given.append(ctx.screening.category)
    protocol(ctx, ctx.screening if ctx.screening.level == "urgent" else ctx.current)
