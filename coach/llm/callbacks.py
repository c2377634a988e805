"""A LangChain callback handler that measures the model's part of one turn."""

from __future__ import annotations

import threading
import time
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler


class ModelTimings(BaseCallbackHandler):
    """Counts model calls, time to first token, model seconds and tokens in and out.

    Token counts come from the server's usage report when it sends one; otherwise the streamed
    tokens are counted (tokens in then stays 0, meaning "not reported").
    """

    raise_error = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[Any, float] = {}
        self._streamed: dict[Any, int] = {}
        self.calls = 0
        self.first_token_s: float | None = None
        self.model_s = 0.0
        self.tokens_in = 0
        self.tokens_out = 0

    def _start(self, run_id: Any) -> None:
        with self._lock:
            self.calls += 1
            self._started[run_id] = time.perf_counter()
            self._streamed[run_id] = 0

    def on_llm_start(self, serialized: Any, prompts: Any, *, run_id: Any, **kw: Any) -> None:
        self._start(run_id)

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: Any,
                            **kw: Any) -> None:
        self._start(run_id)

    def on_llm_new_token(self, token: str, *, run_id: Any, **kw: Any) -> None:
        with self._lock:
            started = self._started.get(run_id)
            if started is not None and self._streamed.get(run_id, 0) == 0:
                first = time.perf_counter() - started
                if self.first_token_s is None:
                    self.first_token_s = first
            self._streamed[run_id] = self._streamed.get(run_id, 0) + 1

    def on_llm_end(self, response: Any, *, run_id: Any, **kw: Any) -> None:
        tokens_in, tokens_out = _usage(response)
        with self._lock:
            started = self._started.pop(run_id, None)
            if started is not None:
                self.model_s += time.perf_counter() - started
            streamed = self._streamed.pop(run_id, 0)
            self.tokens_in += tokens_in
            self.tokens_out += tokens_out or streamed

    def on_llm_error(self, error: BaseException, *, run_id: Any, **kw: Any) -> None:
        with self._lock:
            started = self._started.pop(run_id, None)
            if started is not None:
                self.model_s += time.perf_counter() - started
            self.tokens_out += self._streamed.pop(run_id, 0)

    def as_timings(self) -> dict[str, float]:
        """The measurements as turn timings (seconds and counts)."""
        if not self.calls:
            return {}
        out = {"llm_calls": float(self.calls), "llm_model": self.model_s,
               "llm_tokens_in": float(self.tokens_in), "llm_tokens_out": float(self.tokens_out)}
        if self.first_token_s is not None:
            out["llm_first_token"] = self.first_token_s
        return out


def _usage(response: Any) -> tuple[int, int]:
    """(prompt tokens, completion tokens) from an LLMResult, or (0, 0) when not reported."""
    output = getattr(response, "llm_output", None) or {}
    usage = output.get("token_usage") or output.get("usage") or {}
    if usage:
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    for gens in getattr(response, "generations", None) or []:
        for gen in gens:
            meta = getattr(getattr(gen, "message", None), "usage_metadata", None)
            if meta:
                return int(meta.get("input_tokens") or 0), int(meta.get("output_tokens") or 0)
    return 0, 0
