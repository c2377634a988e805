"""The one small interface every LLM backend implements, its errors and shared settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from coach.errors import CoachError


class LLMError(CoachError):
    """The language model could not give a usable answer."""


class LLMUnavailable(LLMError):
    """The model cannot be reached: server down, not installed, or cannot start."""


class LLMTimeout(LLMError):
    """The model took too long to start or to finish answering."""


class LLMBadResponse(LLMError):
    """The model server answered, but with an error, something unreadable, or nothing."""


class LLMUnsupported(LLMError):
    """The backend does not offer what was asked (e.g. raw completions)."""


@runtime_checkable
class LLMBackend(Protocol):
    """What the coaching engine needs from a language model; every backend implements it."""

    name: str

    def chat(
        self,
        messages: list[dict],
        *,
        max_tokens: int = 256,
        temperature: float = 0.6,
        stop: list[str] | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Stream text deltas of the assistant's reply to a chat."""
        ...

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int = 48,
        temperature: float = 0.6,
        stop: list[str] | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Stream deltas continuing a raw prompt; LLMUnsupported if there is no such endpoint."""
        ...

    def chat_template(self, messages: list[dict], prefill: str = "") -> str:
        """Render messages into a raw prompt with the model's own template, ending in `prefill`."""
        ...

    def health(self) -> bool:
        """True when the model answers right now."""
        ...

    def close(self) -> None:
        """Release connections and any child process."""
        ...


@dataclass(frozen=True)
class RequestPolicy:
    """How long to wait and how often to retry a request before its first token."""

    timeout: float = 60.0  # whole request, retries included
    first_token_timeout: float = 30.0  # longest silence before the first token (and between tokens)
    connect_timeout: float = 5.0
    retries: int = 2  # extra attempts on connect errors, 429 and 5xx, before the first token only
    backoff: float = 0.25  # first retry delay; doubles each time
    max_backoff: float = 2.0

    @classmethod
    def from_env(cls) -> RequestPolicy:
        """COACH_LLM_TIMEOUT, COACH_LLM_FIRST_TOKEN_TIMEOUT and COACH_LLM_RETRIES (settings)."""
        from coach.settings import settings

        s = settings()
        return cls(timeout=s.llm_timeout, first_token_timeout=s.first_token_timeout,
                   retries=s.llm_retries)

    def delay(self, attempt: int) -> float:
        """Backoff before retry number `attempt` (1-based)."""
        return min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))


def render_chat_template(
    template: str, messages: list[dict], prefill: str = "", **tokens: str
) -> str:
    """Render a model's Jinja chat template (as stored in GGUF metadata) and append `prefill`."""
    try:
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        raise LLMUnsupported(
            "Rendering the model's chat template needs jinja2: pip install jinja2"
        ) from None

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    # Same settings Hugging Face uses for chat templates, so whitespace matches training.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    try:
        text = env.from_string(template).render(
            messages=messages, add_generation_prompt=True, **tokens
        )
    except TemplateError as exc:
        raise LLMBadResponse(f"The model's chat template could not be used: {exc}") from None
    return text + prefill
