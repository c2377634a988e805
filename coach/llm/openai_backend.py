"""Any OpenAI-compatible server (OpenAI, vLLM, Ollama, LM Studio, llama.cpp) via LangChain."""

from __future__ import annotations

import re
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
from coach.llm.langchain_backend import (
    LangChainBackend,
    Retry,
    check_messages,
    chunk_text,
    to_langchain,
)
from coach.settings import settings

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
        s = settings()
        values = {
            "base_url": s.openai_base_url or OPENAI_URL,
            "api_key": s.openai_api_key or None,
            "model": s.model or None,
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


def translate_openai(exc: BaseException, kind: str, where: str, wait: float) -> LLMError | Retry:
    """Map an openai/transport exception to our error, wrapped in Retry when retrying may help."""
    import openai

    who = where[:1].upper() + where[1:]
    if isinstance(exc, openai.APITimeoutError):
        return LLMTimeout(f"{who} did not answer within {wait:g} s.")
    if isinstance(exc, openai.APIConnectionError):
        return Retry(LLMUnavailable(f"Can't reach {where}; is the server running?"))
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        detail = _server_message(exc)
        if code == 429:
            return Retry(LLMBadResponse(f"{who} is busy (HTTP 429){detail}."))
        if code >= 500:
            return Retry(LLMBadResponse(f"{who} had an error (HTTP {code}){detail}."))
        if kind == "complete" and code in (404, 405, 501):
            return LLMUnsupported(f"{who} does not offer raw text completions.")
        if code in (401, 403):
            return LLMUnavailable(f"{who} refused the API key (HTTP {code}).")
        return LLMBadResponse(f"{who} rejected the request (HTTP {code}){detail}.")
    if isinstance(exc, openai.APIError):
        return LLMBadResponse(f"{who} reported an error{_server_message(exc)}.")
    return LLMBadResponse(f"{who} sent a reply that could not be read.")


def _completion_text(chunk: Any) -> str:
    """Text carried by one streamed raw-completion chunk ('' for usage-only chunks)."""
    choices = getattr(chunk, "choices", None)
    if not choices:
        return ""
    text = getattr(choices[0], "text", None)
    if text is not None and not isinstance(text, str):
        raise ValueError("non-text delta")
    return text or ""


_WORDISH = re.compile(r"\w+|[^\w\s]")


def approximate_token_ids(text: str) -> list[int]:
    """Token counting without tiktoken (whose encodings are downloaded from the internet)."""
    return [hash(piece) % 100_000 for piece in _WORDISH.findall(text)]


def with_callbacks(pieces: Iterator[str], callbacks: list[Any] | None, prompt: str,
                   name: str) -> Iterator[str]:
    """Report a raw completion to LangChain callback handlers as an LLM run."""
    if not callbacks:
        yield from pieces
        return
    from langchain_core.callbacks import CallbackManager
    from langchain_core.outputs import Generation, LLMResult

    manager = CallbackManager.configure(inheritable_callbacks=callbacks)
    (run,) = manager.on_llm_start({"name": name}, [prompt])
    text = []
    try:
        for piece in pieces:
            run.on_llm_new_token(piece)
            text.append(piece)
            yield piece
    except BaseException as exc:
        run.on_llm_error(exc)
        raise
    run.on_llm_end(LLMResult(generations=[[Generation(text="".join(text))]]))


@dataclass
class OpenAIBackend(LangChainBackend):
    """Chat through LangChain's `ChatOpenAI` and raw completions through the `openai` client.

    Any OpenAI-compatible server (OpenAI, vLLM, Ollama, LM Studio, llama.cpp) works; the local
    backend is this class pointed at the supervised embedded server.
    """

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
        self._chat: tuple[Any, str, Any] | None = None  # (client, model id, ChatOpenAI)

    @property
    def can_prefill(self) -> bool:
        """Raw completions with a known chat template: what the `compose` strategy needs."""
        return bool(self.template)

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

    def _is_openai(self) -> bool:
        return self.endpoint.base_url.rstrip("/") == OPENAI_URL

    def chat_model(self, client: Any = None) -> Any:
        """The `ChatOpenAI` model for this endpoint (rebuilt when the client changes)."""
        client = client or self._client()
        model_id = self._model(client)
        with self._lock:
            if self._chat is None or self._chat[0] is not client or self._chat[1] != model_id:
                from langchain_openai import ChatOpenAI

                chat = ChatOpenAI(
                    model=model_id, client=client.chat.completions, root_client=client,
                    api_key=client.api_key, base_url=str(client.base_url), max_retries=0,
                    stream_usage=self._is_openai(),
                    custom_get_token_ids=approximate_token_ids,
                )
                self._chat = (client, model_id, chat)
            return self._chat[2]

    def structured_model(self, *, max_tokens: int, temperature: float) -> tuple[Any, str | None]:
        """ChatOpenAI for structured output: a JSON schema on OpenAI, JSON mode elsewhere
        (llama.cpp, vLLM and Ollama accept `response_format: json_object`)."""
        chat = self.chat_model()
        update: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens}
        if not self._is_openai():
            update["extra_body"] = {**(chat.extra_body or {}), "max_tokens": max_tokens}
        return chat.model_copy(update=update), ("json_schema" if self._is_openai()
                                                 else "json_mode")

    def complete(self, prompt: str, *, max_tokens: int = 48, temperature: float = 0.6,
                 stop: list[str] | None = None, timeout: float | None = None,
                 callbacks: list[Any] | None = None) -> Iterator[str]:
        """Stream a continuation of the raw `prompt` from /v1/completions."""
        if not isinstance(prompt, str) or not prompt:
            raise InputError("There is nothing to send to the language model (empty prompt).")
        request = {"prompt": prompt, "max_tokens": max_tokens, "temperature": temperature,
                   "stop": stop}
        return with_callbacks(self._stream("complete", request, timeout), callbacks, prompt,
                              self.name)

    def chat_template(self, messages: list[dict], prefill: str = "") -> str:
        """Render messages with the model's chat template, ready for complete()."""
        if not self.template:
            raise LLMUnsupported(
                f"The chat template of {self._where()} is not known here; use chat() instead."
            )
        check_messages(messages)
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
            client, self._client_obj, self._chat = self._client_obj, None, None
        if client is not None:
            client.close()

    # --- one attempt ---------------------------------------------------------------------------
    def _open(self, kind: str, request: dict, deadline: float, total: float) -> tuple[Any, Any]:
        import openai

        # May (re)start a local server: that time counts against the deadline.
        client = self._client()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LLMTimeout(f"{self._who()} did not answer within {total:g} s.")
        wait = min(self.policy.first_token_timeout, remaining)
        # read= bounds every silence: the wait for the first token and any stall after it
        timeout = openai.Timeout(remaining, connect=min(self.policy.connect_timeout, remaining),
                                 read=wait)
        extra = dict(self.sampling)
        top_p = extra.pop("top_p", None)
        if kind == "chat":
            chat = self.chat_model(client)
            options: dict[str, Any] = {"timeout": timeout}
            for key in ("max_tokens", "temperature"):
                if request.get(key) is not None:
                    options[key] = request[key]
            if top_p is not None:
                options["top_p"] = top_p
            if not self._is_openai() and request.get("max_tokens") is not None:
                # ChatOpenAI sends max_completion_tokens, which most other servers ignore.
                extra["max_tokens"] = request["max_tokens"]
            if extra:
                options["extra_body"] = extra
            config = {"callbacks": request["callbacks"]} if request.get("callbacks") else None
            stream = chat.stream(to_langchain(request["messages"]), config=config,
                                 stop=request.get("stop"), **options)
            return stream, stream
        options = {
            "model": self._model(client),
            "stream": True,
            "timeout": timeout,
            **{k: v for k, v in request.items() if v is not None},
        }
        if top_p is not None:
            options["top_p"] = top_p
        if extra:
            options["extra_body"] = extra
        stream = client.completions.create(**options)
        return stream, iter(stream)

    def _delta(self, chunk: Any, kind: str) -> str:
        return chunk_text(chunk) if kind == "chat" else _completion_text(chunk)

    def _translate(self, exc: BaseException, kind: str, wait: float) -> LLMError | Retry:
        return translate_openai(exc, kind, self._where(), wait)
