"""Language-model backends behind one small streaming interface, picked by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coach.errors import CoachError
from coach.llm.base import (
    LLMBackend,
    LLMBadResponse,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    LLMUnsupported,
    RequestPolicy,
)

__all__ = [
    "LLMBackend",
    "LLMBadResponse",
    "LLMError",
    "LLMTimeout",
    "LLMUnavailable",
    "LLMUnsupported",
    "RequestPolicy",
    "backend_names",
    "get_backend",
    "register_backend",
]


def _local(**overrides: Any) -> LLMBackend:
    from coach.llm.local import LocalBackend  # heavy: joins/verifies the model on first use

    return LocalBackend(**overrides)


def _openai(**overrides: Any) -> LLMBackend:
    from coach.llm.openai_backend import Endpoint, OpenAIBackend

    endpoint = Endpoint.from_env(
        base_url=overrides.pop("base_url", None),
        api_key=overrides.pop("api_key", None),
        model=overrides.pop("model", None),
    )
    return OpenAIBackend(endpoint=endpoint, **overrides)


def _langchain(target: str, **overrides: Any) -> LLMBackend:
    from coach.llm.langchain_backend import LangChainBackend, load_chat_model
    from coach.settings import settings

    model = overrides.pop("chat_model", None)
    if model is None:
        s = settings()
        options = {**s.llm_options, **overrides.pop("options", {})}
        model = load_chat_model(target, overrides.pop("model", None) or s.model, options)
    return LangChainBackend(model, name=f"langchain:{target}", **overrides)


def _fake(**overrides: Any) -> LLMBackend:
    from coach.llm.fake import FunctionLLM, ScriptedLLM

    if "fn" in overrides:
        return FunctionLLM(overrides["fn"])
    return ScriptedLLM(overrides.get("replies", []))


_REGISTRY: dict[str, Callable[..., LLMBackend]] = {
    "local": _local,
    "openai": _openai,
    "fake": _fake,
}


def register_backend(name: str, factory: Callable[..., LLMBackend]) -> None:
    """Make `get_backend(name)` call `factory(**overrides)` (e.g. the engine's scripted one)."""
    _REGISTRY[name.lower()] = factory


def backend_names() -> list[str]:
    """Names get_backend accepts."""
    return sorted(_REGISTRY)


def get_backend(name: str | None = None, **overrides: Any) -> LLMBackend:
    """Build the backend called `name` (default: COACH_LLM, else "local").

    `langchain:package.module.ChatClass` builds that LangChain chat model (COACH_MODEL as its
    `model`, COACH_LLM_OPTIONS as further keyword arguments) behind the same interface.
    """
    from coach.settings import settings

    chosen = (name or settings().llm).strip()
    if chosen.lower().startswith("langchain:"):
        target = chosen.split(":", 1)[1].strip()
        if "." not in target:
            raise CoachError(f"{chosen!r}: name the class as langchain:package.module.Class.")
        return _langchain(target, **overrides)
    chosen = chosen.lower()
    factory = _REGISTRY.get(chosen)
    if factory is None:
        raise CoachError(
            f"Unknown language model backend {chosen!r}; "
            f"choose one of: {', '.join(backend_names())}, or langchain:package.module.Class."
        )
    return factory(**overrides)
