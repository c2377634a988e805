"""An attempt to change the coach's instructions or role: a short, friendly no."""

from __future__ import annotations

from ...safety.injection import detect_injection, meta_reply
from ..context import TurnContext

NAME = "injection"


def applies(ctx: TurnContext) -> bool:
    return detect_injection(ctx.text).is_injection


def handle(ctx: TurnContext) -> None:
    ctx.say(meta_reply(detect_injection(ctx.text).kind, seed=ctx.seed))
    ctx.scripted()
