"""Any OpenAI-compatible server (OpenAI, vLLM, Ollama, LM Studio, llama.cpp) via openai."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from coach.errors import InputError
from coach.llm.base import (
    LLMBadResponse,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    LLMUnsupported,
    RequestPolicy,
    render_chat_template,
)

OPENAI_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"


# --- how to reach it --------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where an OpenAI-compatible server lives and how to authenticate to it."""

    base_url: str = OPENAI_URL
    api_key: str | None = None
    model: str | None = None  # None: ask the server (/v1/models) for the one it serves

    @classmethod
    def from_env(cls, **overrides: Any) -> Endpoint:
        """Read OPENAI_BASE_URL, OPENAI_API_KEY and COACH_MODEL; keyword overrides win."""
        values = {
            "base_url": os.environ.get("OPENAI_BASE_URL") or OPENAI_URL,
            "api_key": os.environ.get("OPENAI_API_KEY") or None,
            "model": os.environ.get("COACH_MODEL") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def is_loopback(self) -> bool:
        """True for a server on this machine (no key needed, nothing leaves the computer)."""
        host = urlparse(self.base_url).hostname or ""
        return host in {"127.0.0.1", "localhost", "::1"}

    @property
    def host(self) -> str:
        """Host and port, for messages."""
        parsed = urlparse(self.base_url)
        return parsed.netloc or self.base_url


def make_client(endpoint: Endpoint, policy: RequestPolicy) -> Any:
    """Build an openai client for the endpoint; our own retry loop replaces the client's."""
    try:
        import openai
    except ImportError:
        raise LLMUnavailable("The openai package is missing: pip install openai") from None
    key = endpoint.api_key
    if not key:
        if not endpoint.is_loopback and endpoint.base_url.rstrip("/") == OPENAI_URL:
            raise LLMUnavailable(
                "Set OPENAI_API_KEY to use OpenAI, or OPENAI_BASE_URL for another server."
            )
        key = "not-needed"  # local servers ignore the key, but the client insists on one
    return openai.OpenAI(
        api_key=key,
        base_url=endpoint.base_url,
        max_retries=0,
        timeout=openai.Timeout(policy.timeout, connect=policy.connect_timeout),
    )


# --- how to talk to it ------------------------------------------------------------------------


class _Retry(Exception):
    """Internal: an error worth another attempt if no token has been streamed yet."""

    def __init__(self, error: LLMError):
        super().__init__(str(error))
        self.error = error


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    message = ""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            message = str(inner.get("message") or "")
        elif isinstance(inner, str):
            message = inner
    message = " ".join(message.split())
    return f": {message[:160]}" if message else ""


def _translate(exc: BaseException, kind: str, where: str, wait: float) -> LLMError | _Retry:
    """Map an openai/transport exception to our error, wrapped in _Retry when retrying may help."""
    import openai

    who = where[:1].upper() + where[1:]
    if isinstance(exc, openai.APITimeoutError):
        return LLMTimeout(f"{who} did not answer within {wait:g} s.")
    if isinstance(exc, openai.APIConnectionError):
        return _Retry(LLMUnavailable(f"Can't reach {where}; is the server running?"))
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        detail = _server_message(exc)
        if code == 429:
            return _Retry(LLMBadResponse(f"{who} is busy (HTTP 429){detail}."))
        if code >= 500:
            return _Retry(LLMBadResponse(f"{who} had an error (HTTP {code}){detail}."))
        if kind == "complete" and code in (404, 405, 501):
            return LLMUnsupported(f"{who} does not offer raw text completions.")
        if code in (401, 403):
            return LLMUnavailable(f"{who} refused the API key (HTTP {code}).")
        return LLMBadResponse(f"{who} rejected the request (HTTP {code}){detail}.")
    if isinstance(exc, openai.APIError):
        return LLMBadResponse(f"{who} reported an error{_server_message(exc)}.")
    return LLMBadResponse(f"{who} sent a reply that could not be read.")


def _delta(chunk: Any, kind: str) -> str:
    """Text carried by one streamed chunk ('' for role-only or usage chunks)."""
    choices = getattr(chunk, "choices", None)
    if not choices:
        return ""
    choice = choices[0]
    if kind == "chat":
        delta = getattr(choice, "delta", None)
        text = getattr(delta, "content", None) if delta is not None else None
    else:
        text = getattr(choice, "text", None)
    if text is not None and not isinstance(text, str):
        raise ValueError("non-text delta")
    return text or ""


# Transport- and parse-level failures that mean "the reply could not be read".
_UNREADABLE = (ValueError, TypeError, AttributeError, KeyError, IndexError)


def _check_messages(messages: list[dict]) -> None:
    if not messages:
        raise InputError("There is nothing to send to the language model (no messages).")
    for message in messages:
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("content"), str)
            or not message.get("role")
        ):
            raise InputError("Each chat message needs a role and text content.")


@dataclass
class OpenAIBackend:
    """Streams chat and raw completions from an OpenAI-compatible endpoint (retries, timeouts)."""

    endpoint: Endpoint = field(default_factory=Endpoint.from_env)
    policy: RequestPolicy = field(default_factory=RequestPolicy.from_env)
    template: str | None = None  # the model's chat template, when known (local GGUF)
    template_tokens: dict[str, str] = field(default_factory=dict)  # bos_token / eos_token for it
    sampling: dict[str, Any] = field(default_factory=dict)  # extra server sampling knobs (top_k...)
    name: str = "openai"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._client_obj: Any = None
        self._model_id: str | None = self.endpoint.model

    # Subclasses (the local backend) override these two to point at a supervised server.
    def _client(self) -> Any:
        with self._lock:
            if self._client_obj is None:
                self._client_obj = make_client(self.endpoint, self.policy)
            return self._client_obj

    def _where(self) -> str:
        return f"the language model at {self.endpoint.host}"

    def _model(self, client: Any) -> str:
        if self._model_id:
            return self._model_id
        if self.endpoint.base_url.rstrip("/") == OPENAI_URL:
            self._model_id = OPENAI_DEFAULT_MODEL
            return self._model_id
        try:
            models = list(client.models.list(timeout=self.policy.connect_timeout))
        except Exception:  # noqa: BLE001 - any failure here means "tell us the model"
            models = []
        if not models:
            raise LLMUnavailable(f"Set COACH_MODEL: {self._where()} did not list its models.")
        self._model_id = str(models[0].id)
        return self._model_id

    def chat(
        self,
        messages: list[dict],
        *,
        max_tokens: int = 256,
        temperature: float = 0.6,
        stop: list[str] | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Stream the assistant's reply to `messages`, token by token."""
        _check_messages(messages)
        request = {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stop": stop,
        }
        return self._stream("chat", request, timeout)

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int = 48,
        temperature: float = 0.6,
        stop: list[str] | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Stream a continuation of the raw `prompt` from /v1/completions."""
        if not isinstance(prompt, str) or not prompt:
            raise InputError("There is nothing to send to the language model (empty prompt).")
        request = {
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stop": stop,
        }
        return self._stream("complete", request, timeout)

    def chat_template(self, messages: list[dict], prefill: str = "") -> str:
        """Render messages with the model's chat template, ready for complete()."""
        if not self.template:
            raise LLMUnsupported(
                f"The chat template of {self._where()} is not known here; use chat() instead."
            )
        _check_messages(messages)
        return render_chat_template(self.template, messages, prefill, **self.template_tokens)

    def health(self) -> bool:
        """True when the server lists its models within a few seconds."""
        try:
            self._client().models.list(timeout=self.policy.connect_timeout)
            return True
        except Exception:  # noqa: BLE001 - a health check answers, it does not raise
            return False

    def close(self) -> None:
        """Close the HTTP connection pool."""
        with self._lock:
            client, self._client_obj = self._client_obj, None
        if client is not None:
            client.close()

    # --- streaming with retries before the first token ---------------------------------------

    def _open(
        self, kind: str, request: dict, deadline: float, total: float
    ) -> tuple[Any, Iterator[Any]]:
        import openai

        # May (re)start a local server: that time counts against the deadline.
        client = self._client()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            where = self._where()
            raise LLMTimeout(f"{where[:1].upper() + where[1:]} did not answer within {total:g} s.")
        wait = min(self.policy.first_token_timeout, remaining)
        options = {
            "model": self._model(client),
            "stream": True,
            # read= bounds every silence: the wait for the first token and any stall after it
            "timeout": openai.Timeout(
                remaining, connect=min(self.policy.connect_timeout, remaining), read=wait
            ),
            **{k: v for k, v in request.items() if v is not None},
        }
        if self.sampling:
            extra = dict(self.sampling)
            if "top_p" in extra:
                options["top_p"] = extra.pop("top_p")
            if extra:
                options["extra_body"] = extra
        api = client.chat.completions if kind == "chat" else client.completions
        stream = api.create(**options)
        return stream, iter(stream)

    def _stream(self, kind: str, request: dict, timeout: float | None) -> Iterator[str]:
        total = self.policy.timeout if timeout is None else timeout
        deadline = time.monotonic() + total
        where = self._where()
        who = where[:1].upper() + where[1:]
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LLMTimeout(f"{who} did not answer within {total:g} s.")
            wait = min(self.policy.first_token_timeout, remaining)
            stream = None
            try:
                stream, chunks = self._open(kind, request, deadline, total)
                first = ""
                for chunk in chunks:
                    first = _delta(chunk, kind)
                    if first:
                        break
                    if time.monotonic() > deadline:
                        raise LLMTimeout(f"{who} did not answer within {total:g} s.")
                break
            except LLMError:
                _close(stream)
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is translated below
                _close(stream)
                error = _translate(exc, kind, where, wait)
                if not isinstance(error, _Retry):
                    raise error from None
                attempt += 1
                if attempt > self.policy.retries:
                    raise error.error from None
                time.sleep(max(0.0, min(self.policy.delay(attempt), deadline - time.monotonic())))
        if not first:
            _close(stream)
            raise LLMBadResponse(f"{who} returned an empty reply.")
        yield from self._rest(stream, chunks, first, kind, where, deadline, total)

    def _rest(
        self,
        stream: Any,
        chunks: Iterator[Any],
        first: str,
        kind: str,
        where: str,
        deadline: float,
        total: float,
    ) -> Iterator[str]:
        # Once a token has gone out nothing is retried: the caller decides how to fall back.
        try:
            yield first
            for chunk in chunks:
                text = _delta(chunk, kind)
                if text:
                    yield text
                if time.monotonic() > deadline:
                    raise LLMTimeout(
                        f"{where[:1].upper() + where[1:]} did not finish within {total:g} s."
                    )
        except LLMError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is translated below
            error = _translate(exc, kind, where, min(self.policy.first_token_timeout, total))
            raise (error.error if isinstance(error, _Retry) else error) from None
        finally:
            _close(stream)


def _close(stream: Any) -> None:
    if stream is not None:
        # Closing a broken stream must not hide the real error.
        with contextlib.suppress(Exception):
            stream.close()
