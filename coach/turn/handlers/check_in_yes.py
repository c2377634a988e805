"""The person said yes (or wasn't sure) to the coach's direct safety question: the protocol."""

from __future__ import annotations

from ...safety.types import Screening
from ..context import TurnContext
from .common import protocol

NAME = "check_in_yes"


def applies(ctx: TurnContext) -> bool:
    return ctx.check_in_answer == "yes"


def handle(ctx: TurnContext) -> None:
    asked = ctx.pending_check_in
    said = Screening(asked, "concern", ("answered yes to the coach's safety check-in",))
    ctx.out.screenings.append(said)
    if asked == "abuse":
        ctx.state.abuse_raised = True
    protocol(ctx, said)
