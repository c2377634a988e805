"""Test doubles that implement the LLM interface: a scripted queue and a function-driven model."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator

from coach.llm.base import LLMBadResponse

Reply = str | Exception


class ScriptExhausted(AssertionError):
    """A test made more model calls than it scripted (not an LLMError, so no fallback hides it)."""


def _chunks(text: str) -> Iterator[str]:
    # Split on word boundaries, keeping spaces, so callers see several deltas like a real stream.
    yield from re.findall(r"\S+\s*|\s+", text)


class _FakeBase:
    """Shared behaviour: records calls, renders a simple template, streams replies in pieces."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[dict] = []  # every request, so tests can check what the engine sent
        self.closed = False
        self._lock = threading.Lock()

    def _reply(self, call: dict) -> Reply:
        raise NotImplementedError

    def _stream(self, call: dict) -> Iterator[str]:
        with self._lock:
            self.calls.append(call)
        reply = self._reply(call)  # outside the lock: a slow fn must not serialise other threads
        if isinstance(reply, Exception):
            raise reply
        if not reply:
            raise LLMBadResponse("The language model returned an empty reply.")
        yield from _chunks(reply)

    def chat(
        self,
        messages: list[dict],
        *,
        max_tokens: int = 256,
        temperature: float = 0.6,
        stop: list[str] | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Stream the next reply for a chat request."""
        call = {
            "kind": "chat",
            "messages": [dict(m) for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stop": stop,
            "timeout": timeout,
        }
        return self._stream(call)

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int = 48,
        temperature: float = 0.6,
        stop: list[str] | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Stream the next reply for a raw completion request."""
        call = {
            "kind": "complete",
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stop": stop,
            "timeout": timeout,
        }
        return self._stream(call)

    def chat_template(self, messages: list[dict], prefill: str = "") -> str:
        """A ChatML-style rendering, enough for code that builds raw prompts."""
        parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
        return "".join(parts) + "<|im_start|>assistant\n" + prefill

    def health(self) -> bool:
        """Healthy until closed."""
        return not self.closed

    def close(self) -> None:
        """Mark the fake closed."""
        self.closed = True


class ScriptedLLM(_FakeBase):
    """Answers each request with the next queued reply; an Exception in the queue is raised."""

    name = "fake"

    def __init__(self, replies: list[Reply] | None = None) -> None:
        super().__init__()
        self.replies: list[Reply] = list(replies or [])

    def enqueue(self, *replies: Reply) -> None:
        """Add replies to the end of the queue."""
        with self._lock:
            self.replies.extend(replies)

    def _reply(self, call: dict) -> Reply:
        with self._lock:
            return self._next(call)

    def _next(self, call: dict) -> Reply:
        if not self.replies:
            # Loud on purpose: more model calls than the test scripted is a real finding.
            raise ScriptExhausted(
                f"ScriptedLLM ran out of replies (call {len(self.calls)}: {call['kind']})."
            )
        return self.replies.pop(0)


class FunctionLLM(_FakeBase):
    """Answers each request with fn(call); call holds kind, messages or prompt, and options."""

    name = "fake"

    def __init__(self, fn: Callable[[dict], Reply]) -> None:
        super().__init__()
        self.fn = fn

    def _reply(self, call: dict) -> Reply:
        return self.fn(call)
