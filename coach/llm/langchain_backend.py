"""Any LangChain chat model as a coach backend, behind the coach's small streaming interface.

`LangChainBackend(model)` adapts a `BaseChatModel`: replies stream through `model.stream()`,
the first token must come within the policy's deadline (and no later token may stall longer),
failures before the first token are retried, and every failure becomes one of the coach's
`LLMError`s with a plain sentence. The `openai` and `local` backends are the same adapter over
`ChatOpenAI` (see `openai_backend.py`), with the raw-completions endpoint added for the
`compose` strategy.

Choose any installed integration by name, with no new code:

    COACH_LLM=langchain:langchain_ollama.ChatOllama COACH_MODEL=qwen2.5:7b coach serve

`COACH_MODEL` becomes the `model` argument and `COACH_LLM_OPTIONS` (a JSON object) adds any
other keyword arguments.
"""

from __future__ import annotations

import importlib
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from coach.errors import InputError
from coach.llm.base import (
    LLMBadResponse,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    LLMUnsupported,
    RequestPolicy,
)

# Field names LangChain integrations use for the reply-length limit.
_MAX_TOKEN_FIELDS = ("max_tokens", "num_predict", "max_output_tokens", "max_new_tokens")


class Retry(Exception):
    """An error worth another attempt if no token has been streamed yet."""

    def __init__(self, error: LLMError):
        super().__init__(str(error))
        self.error = error


def check_messages(messages: list[dict]) -> None:
    """Each message must be a dict with a role and text content."""
    if not messages:
        raise InputError("There is nothing to send to the language model (no messages).")
    for message in messages:
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("content"), str)
            or not message.get("role")
        ):
            raise InputError("Each chat message needs a role and text content.")


def to_langchain(messages: list[dict]) -> list[Any]:
    """Coach chat messages ({"role", "content"}) as LangChain message objects."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "human": HumanMessage,
             "assistant": AIMessage, "ai": AIMessage}
    out = []
    for m in messages:
        kind = kinds.get(str(m["role"]).lower())
        if kind is None:
            raise InputError(f"Unknown chat role {m['role']!r}.")
        out.append(kind(content=m["content"]))
    return out


def chunk_text(chunk: Any) -> str:
    """The text a streamed LangChain chunk carries ('' for tool-call or usage-only chunks)."""
    content = getattr(chunk, "content", chunk)
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks (Anthropic and others)
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text") or ""))
        return "".join(parts)
    raise ValueError("non-text delta")


def load_chat_model(target: str, model: str | None = None,
                    options: dict[str, Any] | None = None) -> Any:
    """Import `package.module.Class` and build it with `model=` and `options`."""
    module_name, _, class_name = target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LLMUnavailable(
            f"COACH_LLM=langchain:{target}: the package {module_name!r} is not installed "
            f"({exc.name or exc}); install it in the coach's environment, e.g. "
            f"pip install {module_name.split('.')[0].replace('_', '-')}."
        ) from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise LLMUnavailable(f"COACH_LLM=langchain:{target}: {module_name} has no {class_name}.")
    from langchain_core.language_models import BaseChatModel

    if not (isinstance(cls, type) and issubclass(cls, BaseChatModel)):
        raise LLMUnavailable(f"COACH_LLM=langchain:{target} is not a LangChain chat model class.")
    kwargs = dict(options or {})
    if model and "model" not in kwargs:
        kwargs["model"] = model
    try:
        return cls(**kwargs)
    except Exception as exc:  # noqa: BLE001 - any constructor failure is a setup problem
        detail = " ".join(str(exc).split())[:240]
        raise LLMUnavailable(
            f"COACH_LLM=langchain:{target} could not be set up: {detail} "
            "(model settings: COACH_MODEL, COACH_LLM_OPTIONS)."
        ) from None


def configured(model: Any, max_tokens: int | None, temperature: float | None) -> Any:
    """A copy of `model` with this request's length limit and temperature, where it has them."""
    fields = getattr(type(model), "model_fields", {})
    update: dict[str, Any] = {}
    if temperature is not None and "temperature" in fields:
        update["temperature"] = temperature
    if max_tokens is not None:
        for name in _MAX_TOKEN_FIELDS:
            if name in fields:
                update[name] = max_tokens
                break
        base = str(getattr(model, "openai_api_base", None) or "")
        if "extra_body" in fields and base and "api.openai.com" not in base:
            # ChatOpenAI sends max_completion_tokens, which llama.cpp, vLLM and Ollama's
            # OpenAI endpoints ignore: say max_tokens too, or replies run to the context end.
            update["extra_body"] = {**(getattr(model, "extra_body", None) or {}),
                                    "max_tokens": max_tokens}
    return model.model_copy(update=update) if update else model


def translate_generic(exc: BaseException, where: str, wait: float) -> LLMError | Retry:
    """Map an exception from any LangChain integration to the coach's errors."""
    try:
        import openai

        if isinstance(exc, openai.APIError):
            from coach.llm.openai_backend import translate_openai

            return translate_openai(exc, "chat", where, wait)
    except ImportError:  # pragma: no cover - openai is a dependency
        pass
    who = where[:1].upper() + where[1:]
    name = type(exc).__name__
    if isinstance(exc, TimeoutError) or "Timeout" in name:
        return LLMTimeout(f"{who} did not answer within {wait:g} s.")
    if isinstance(exc, ConnectionError) or name in ("ConnectError", "ConnectionError",
                                                   "APIConnectionError", "RemoteProtocolError"):
        return Retry(LLMUnavailable(f"Can't reach {where}; is the server running?"))
    code = getattr(exc, "status_code", None)
    if code is None:
        code = getattr(getattr(exc, "response", None), "status_code", None)
    detail = " ".join(str(exc).split())[:160]
    if isinstance(code, int):
        if code == 429:
            return Retry(LLMBadResponse(f"{who} is busy (HTTP 429)."))
        if code >= 500:
            return Retry(LLMBadResponse(f"{who} had an error (HTTP {code})."))
        if code in (401, 403):
            return LLMUnavailable(f"{who} refused the credentials (HTTP {code}).")
        return LLMBadResponse(f"{who} rejected the request (HTTP {code}): {detail}.")
    return LLMBadResponse(f"{who} failed ({name}: {detail}).")


class _Pump:
    """Reads a blocking iterator in a worker thread so waits on it can have deadlines."""

    _DONE = object()

    def __init__(self, source: Any, who: str, wait: float) -> None:
        self.who = who
        self.wait = wait
        self._q: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._source = source
        self._thread = threading.Thread(target=self._run, name="llm-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._source:
                self._q.put(("item", item))
                if self._stop.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            self._q.put(("error", exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing must not hide the real error
                    pass
            self._q.put(("done", None))

    def __iter__(self) -> _Pump:
        return self

    def __next__(self) -> Any:
        try:
            kind, item = self._q.get(timeout=self.wait)
        except queue.Empty:
            self.close()
            raise LLMTimeout(f"{self.who} went silent for more than {self.wait:g} s.") from None
        if kind == "item":
            return item
        if kind == "error":
            raise item
        raise StopIteration

    def close(self) -> None:
        self._stop.set()


class LangChainBackend:
    """The coach's LLM interface over a LangChain chat model (`BaseChatModel`)."""

    supports_callbacks = True

    def __init__(self, model: Any = None, *, name: str = "langchain",
                 policy: RequestPolicy | None = None, where: str | None = None) -> None:
        self.model = model
        self.name = name
        self.policy = policy or RequestPolicy.from_env()
        self._label = where or f"the language model ({type(model).__name__})"

    # --- what the model can do -------------------------------------------------------------
    @property
    def can_prefill(self) -> bool:
        """True when raw completions with the model's chat template are available (compose)."""
        return False

    def chat_model(self) -> Any:
        """The LangChain chat model behind this backend (for structured output and chains)."""
        return self.model

    def structured_model(self, *, max_tokens: int, temperature: float) -> tuple[Any, str | None]:
        """(chat model with these settings, with_structured_output method or None = default)."""
        return configured(self.chat_model(), max_tokens, temperature), None

    # --- the interface ---------------------------------------------------------------------
    def chat(self, messages: list[dict], *, max_tokens: int = 256, temperature: float = 0.6,
             stop: list[str] | None = None, timeout: float | None = None,
             callbacks: list[Any] | None = None) -> Iterator[str]:
        """Stream the assistant's reply to `messages`, token by token."""
        check_messages(messages)
        request = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                   "stop": stop, "callbacks": callbacks}
        return self._stream("chat", request, timeout)

    def complete(self, prompt: str, *, max_tokens: int = 48, temperature: float = 0.6,
                 stop: list[str] | None = None, timeout: float | None = None,
                 callbacks: list[Any] | None = None) -> Iterator[str]:
        """Raw completions are not part of a chat model."""
        raise LLMUnsupported(f"{self._who()} offers chat only, not raw text completions.")

    def chat_template(self, messages: list[dict], prefill: str = "") -> str:
        raise LLMUnsupported(f"The chat template of {self._where()} is not known here.")

    def health(self) -> bool:
        """True when one short reply comes back within the connect timeout."""
        try:
            text = "".join(self.chat([{"role": "user", "content": "Say OK."}], max_tokens=2,
                                     temperature=0.0, timeout=max(5.0, self.policy.connect_timeout)))
            return bool(text)
        except LLMError:
            return False

    def close(self) -> None:
        """Nothing held open here; integrations close their own clients."""

    # --- hooks subclasses override ---------------------------------------------------------
    def _where(self) -> str:
        return self._label

    def _who(self) -> str:
        where = self._where()
        return where[:1].upper() + where[1:]

    def _open(self, kind: str, request: dict, deadline: float, total: float) -> tuple[Any, Any]:
        """Start one attempt; return (closeable, iterator of chunks)."""
        remaining = deadline - time.monotonic()
        wait = min(self.policy.first_token_timeout, max(0.01, remaining))
        model = configured(self.model, request.get("max_tokens"), request.get("temperature"))
        config = {"callbacks": request["callbacks"]} if request.get("callbacks") else None
        source = model.stream(to_langchain(request["messages"]), config=config,
                              stop=request.get("stop"))
        pump = _Pump(source, self._who(), wait)
        return pump, pump

    def _delta(self, chunk: Any, kind: str) -> str:
        return chunk_text(chunk)

    def _translate(self, exc: BaseException, kind: str, wait: float) -> LLMError | Retry:
        return translate_generic(exc, self._where(), wait)

    # --- streaming with retries before the first token -------------------------------------
    def _stream(self, kind: str, request: dict, timeout: float | None) -> Iterator[str]:
        total = self.policy.timeout if timeout is None else timeout
        deadline = time.monotonic() + total
        who = self._who()
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
                    first = self._delta(chunk, kind)
                    if first:
                        break
                    if time.monotonic() > deadline:
                        raise LLMTimeout(f"{who} did not answer within {total:g} s.")
                break
            except LLMError:
                close_quietly(stream)
                raise
            except InputError:
                close_quietly(stream)
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is translated below
                close_quietly(stream)
                error = self._translate(exc, kind, wait)
                if not isinstance(error, Retry):
                    raise error from None
                attempt += 1
                if attempt > self.policy.retries:
                    raise error.error from None
                time.sleep(max(0.0, min(self.policy.delay(attempt), deadline - time.monotonic())))
        if not first:
            close_quietly(stream)
            raise LLMBadResponse(f"{who} returned an empty reply.")
        yield from self._rest(stream, chunks, first, kind, deadline, total)

    def _rest(self, stream: Any, chunks: Any, first: str, kind: str, deadline: float,
              total: float) -> Iterator[str]:
        # Once a token has gone out nothing is retried: the caller decides how to fall back.
        who = self._who()
        try:
            yield first
            for chunk in chunks:
                text = self._delta(chunk, kind)
                if text:
                    yield text
                if time.monotonic() > deadline:
                    raise LLMTimeout(f"{who} did not finish within {total:g} s.")
        except LLMError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is translated below
            error = self._translate(exc, kind, min(self.policy.first_token_timeout, total))
            raise (error.error if isinstance(error, Retry) else error) from None
        finally:
            close_quietly(stream)


def close_quietly(stream: Any) -> None:
    if stream is not None:
        try:
            stream.close()
        except Exception:  # noqa: BLE001 - closing a broken stream must not hide the error
            pass
