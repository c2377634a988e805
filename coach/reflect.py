"""What the LLM is allowed to write, and the checks its words pass before anyone sees them.

`compose` strategy (small local model): one reflective sentence, the assistant turn pre-filled
with an opening such as "It sounds like you feel" (varied by turn) on the raw completions
endpoint (measured best for the bundled 1.5B model). `full` strategy (a strong model): the whole reply, bounded by the system prompt,
cut after its first question, streamed sentence by sentence through the output rails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from . import compose
from .knowledge import Card
from .prompting import render
from .safety.output_rails import RailContext, StreamGuard
from .settings import settings
from .turn import Delta

_SENTENCE_END = re.compile(r"[.!?](\s|$)")
_LETTERS = re.compile(r"[A-Za-z]")
_ROLE_TEXT = {
    "hurt_partner": "someone whose partner broke their trust",
    "partner_who_broke_trust": "someone who broke their partner's trust and wants to repair it",
    "own_insecurity": "someone whose doubts come mostly from their own past or insecurity",
    "unknown": "someone struggling with trust in their relationship",
}


@dataclass
class LLMText:
    text: str = ""
    shown: str = ""             # what was already streamed to the user
    error: str = ""             # why the LLM could not be used (fallback reason)
    violations: list[str] = field(default_factory=list)


def plausible_sentence(text: str, generated: str | None = None) -> bool:
    """Reject garbage: too short/long, mostly non-letters, questions, lists, role confusion.

    `generated` is the part the model wrote (after a pre-filled start); it must be words too.
    """
    words = text.split()
    if not 4 <= len(words) <= 45 or "?" in text:
        return False
    for part in (text, generated if generated is not None else text):
        letters = len(_LETTERS.findall(part))
        if letters < 0.6 * max(1, len(part.replace(" ", ""))):
            return False
    if generated is not None and len(re.findall(r"[A-Za-z]{2,}", generated)) < 2:
        return False
    low = text.lower()
    if any(bad in low for bad in ("as an ai", "reflection:", "user:", "assistant:", "\n-", "1.")):
        return False
    return not _banned_words().search(low)


def _banned_words() -> re.Pattern[str]:
    """Words the model's sentence may never contain (labels, verdicts about the partner)."""
    global _BANNED
    if _BANNED is None:
        words = compose.prompts()["reflection_banned"]
        _BANNED = re.compile(r"\b(" + "|".join(words) + r")", re.I)
    return _BANNED


_BANNED: re.Pattern[str] | None = None


class Reflector:
    """Talks to an LLM backend within the coach's bounds."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm

    def _cb(self, callbacks: list[Any] | None) -> dict[str, Any]:
        """`callbacks=` for backends that accept LangChain callbacks (others get nothing)."""
        return {"callbacks": callbacks} if callbacks and getattr(
            self.llm, "supports_callbacks", False) else {}

    def reflect(self, user_text: str, ctx: RailContext, turn: int = 0,
                callbacks: list[Any] | None = None) -> Iterator[Any]:
        """Yield Delta events; return LLMText (empty text + error on any failure).

        `turn` picks the sentence's opening, so consecutive replies never open the same way.
        """
        from .llm import LLMError, LLMUnsupported

        p = compose.prompts()
        prefills = p["reflection_prefills"]
        prefill = prefills[turn % len(prefills)]
        messages = render(p["reflection_system"], user_text=user_text[-2000:])
        try:
            try:
                prompt = self.llm.chat_template(messages, prefill=prefill)
                pieces = self.llm.complete(prompt, max_tokens=40, temperature=_temperature(),
                                           stop=["\n", ".", "!", "?"], **self._cb(callbacks))
                raw = prefill + "".join(pieces)
                if not raw.rstrip().endswith((".", "!")):
                    raw = raw.rstrip(" ,;:") + "."
            except LLMUnsupported:
                raw = "".join(self.llm.chat(messages, max_tokens=60, temperature=_temperature(),
                                            **self._cb(callbacks)))
        except LLMError as exc:
            return LLMText(error=str(exc))
        except Exception as exc:  # a misbehaving client must not break the turn
            return LLMText(error=f"{type(exc).__name__}: {exc}")
        sentence = _first_sentence(raw)
        generated = sentence[len(prefill):] if sentence.startswith(prefill) else None
        if _banned_words().search(sentence):
            return LLMText(violations=["label_or_verdict"])
        if not plausible_sentence(sentence, generated):
            return LLMText(error="the model's reply was not usable")
        guard = StreamGuard(ctx)
        shown = guard.feed(sentence) + guard.finish()
        if guard.tripped or not shown.strip():
            return LLMText(error="", violations=list(guard.violations))
        yield Delta(shown.strip())
        return LLMText(text=shown.strip(), shown=shown.strip())

    def full_reply(self, user_text: str, card: Card, question: str, state: Any,
                   ctx: RailContext, callbacks: list[Any] | None = None) -> Iterator[Any]:
        """Stream a whole reply from a strong model; cut after its first question."""
        from .llm import LLMError

        p = compose.prompts()
        messages = render(
            p["full_system"], role_text=_ROLE_TEXT.get(state.role, _ROLE_TEXT["unknown"]),
            stage_name=compose.stage_name(card.stage), card_title=card.title,
            card_tip=card.tip, card_body=card.body, card_question=question,
            user_text=user_text[-4000:])
        system = messages[0]["content"]
        ctx = RailContext(abuse_raised=ctx.abuse_raised, system_prompt=system,
                          allowed_text=(card.tip, card.body, question))
        guard = StreamGuard(ctx)
        shown = ""
        try:
            for piece in self.llm.chat(messages, max_tokens=220, temperature=_temperature(),
                                       **self._cb(callbacks)):
                released = guard.feed(piece)
                if released:
                    released, done = _until_first_question(shown, released)
                    shown += released
                    yield Delta(released)
                    if done:
                        break
                if guard.tripped:
                    break
            else:
                tail = guard.finish()
                if tail:
                    tail, _ = _until_first_question(shown, tail)
                    shown += tail
                    yield Delta(tail)
        except LLMError as exc:
            return LLMText(error=str(exc), shown=shown)
        except Exception as exc:
            return LLMText(error=f"{type(exc).__name__}: {exc}", shown=shown)
        if guard.tripped:
            return LLMText(violations=list(guard.violations), shown=shown)
        words = len(shown.split())
        if words < 8:
            return LLMText(error="the model's reply was not usable", shown=shown)
        return LLMText(text=shown.strip(), shown=shown)


def _temperature() -> float:
    """COACH_LLM_TEMPERATURE (default 0.6, the measured sweet spot; 0 makes evals repeatable)."""
    return settings().llm_temperature


def _first_sentence(text: str) -> str:
    text = " ".join(text.strip().split())
    m = _SENTENCE_END.search(text)
    return text[: m.end()].strip() if m else text


def _until_first_question(already: str, new: str) -> tuple[str, bool]:
    """Cut `new` after the first question mark unless `already` had one (then drop `new`)."""
    if "?" in already:
        return "", True
    idx = new.find("?")
    if idx == -1:
        return new, False
    return new[: idx + 1], True
