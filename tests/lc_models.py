"""Small LangChain chat models for tests: importable by name (COACH_LLM=langchain:lc_models.X)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

REPLY = ("That sounds really painful, and it makes sense that you feel shaken after finding "
         "those messages. What would help you feel a little steadier this week?")


class EchoChat(BaseChatModel):
    """Streams `reply` word by word; records what it was asked (class-level, for tests)."""

    model: str = "echo-1"
    reply: str = REPLY
    delay: float = 0.0          # seconds before the first token
    fail_first: int = 0         # raise ConnectionError on this many first attempts
    max_tokens: int | None = None
    temperature: float | None = None
    seen: ClassVar[list] = []      # every request, shared by all instances
    attempts: ClassVar[list] = []  # the time of every attempt

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        text = "".join(c.message.content for c in self._stream(messages, stop, None, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        EchoChat.seen.append({"messages": [(m.type, m.content) for m in messages],
                              "stop": stop, "max_tokens": self.max_tokens,
                              "temperature": self.temperature, "model": self.model})
        EchoChat.attempts.append(time.monotonic())
        if len(EchoChat.attempts) <= self.fail_first:
            raise ConnectionError("connection refused")
        if self.delay:
            time.sleep(self.delay)
        words = self.reply.split(" ")
        for i, word in enumerate(words):
            piece = word + (" " if i < len(words) - 1 else "")
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


class BrokenAfterFirstToken(EchoChat):
    """One token, then the connection drops."""

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        EchoChat.attempts.append(time.monotonic())
        yield ChatGenerationChunk(message=AIMessageChunk(content="That "))
        raise ConnectionError("connection reset")


class Refuses(EchoChat):
    """The provider refuses the credentials (an exception carrying status_code 401)."""

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        EchoChat.attempts.append(time.monotonic())
        err = RuntimeError("invalid api key")
        err.status_code = 401  # type: ignore[attr-defined]
        raise err
        yield  # pragma: no cover
