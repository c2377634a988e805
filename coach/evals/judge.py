"""Optional LLM judge: any LangChain-reachable model rates replies 1-5 on a counselling rubric."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import yaml

from ..config import data_dir
from ..llm import LLMError, LLMUnsupported
from ..settings import settings

_JSON = re.compile(r"\{[^{}]*\}", re.S)


@lru_cache(maxsize=2)
def _prompt(path: str) -> dict[str, Any]:
    data = yaml.safe_load(open(path, encoding="utf-8"))
    if not isinstance(data, dict) or not data.get("system") or not data.get("dimensions"):
        raise ValueError(f"{path}: needs 'system', 'user' and 'dimensions'")
    return data


def judge_prompt() -> dict[str, Any]:
    return _prompt(str(data_dir("prompts") / "judge.yaml"))


def parse_scores(text: str, dimensions: list[str]) -> dict[str, int] | None:
    """The first JSON object holding every dimension as a whole number 1-5, else None."""
    for m in _JSON.finditer(text):
        try:
            data = json.loads(m.group(0))
        except json.JSONDecodeError:
            continue
        try:
            scores = {k: int(data[k]) for k in dimensions}
        except (KeyError, TypeError, ValueError):
            continue
        if all(1 <= v <= 5 for v in scores.values()):
            return scores
    return None


def judge_backend() -> tuple[Any, str] | None:
    """(backend, model name) for the configured judge, or None when none is configured."""
    from ..llm import get_backend

    s = settings()
    model = (s.judge_model or "").strip()
    if s.judge_llm and s.judge_llm != "openai":
        llm = get_backend(s.judge_llm, **({"model": model} if model and
                                         s.judge_llm.startswith("langchain:") else {}))
        return llm, model or s.judge_llm
    url = (s.judge_base_url or "").strip()
    if not url or not model:
        return None
    return get_backend("openai", base_url=url, model=model,
                       api_key=s.judge_api_key or "not-needed"), model


def scores_schema(dimensions: list[str]) -> type:
    """A pydantic model with one whole-number 1-5 field per rubric dimension."""
    from pydantic import Field, create_model

    fields = {d: (int, Field(ge=1, le=5, description=f"{d} score from 1 to 5"))
              for d in dimensions}
    return create_model("JudgeScores", **fields)


class _StructuredJudge:
    """A prompt piped into a model's structured output; failures are recorded, never scored.

    The judge is any coach backend that exposes its LangChain chat model (`openai`, `local`,
    `langchain:...`); answers come back through `with_structured_output`, so each is either a
    complete, valid object or a recorded failure.
    """

    def __init__(self, llm: Any, model: str = "") -> None:
        self.llm = llm
        self.model = model
        self.calls = 0
        self.failures = 0
        self._chain: Any = None

    @classmethod
    def from_env(cls):
        """A judge from COACH_JUDGE_LLM or COACH_JUDGE_BASE_URL + _MODEL (+ _API_KEY), else None."""
        got = judge_backend()
        return None if got is None else cls(*got)

    def _build(self, system: str, human: str, schema: type, max_tokens: int) -> Any:
        from ..prompting import chat_prompt

        make = getattr(self.llm, "structured_model", None)
        if make is None:
            raise LLMUnsupported(f"The judge backend {getattr(self.llm, 'name', '?')!r} has no "
                                 "LangChain chat model for structured output.")
        chat, method = make(max_tokens=max_tokens, temperature=0.0)
        structured = chat.with_structured_output(schema, include_raw=True,
                                                 **({"method": method} if method else {}))
        return chat_prompt(system, human) | structured

    def _ask(self, chain: Any, values: dict[str, Any], empty: str) -> dict[str, Any]:
        """{"parsed": dict} or {"error": why} (with the raw answer's start when unreadable)."""
        from ..llm.langchain_backend import translate_generic

        self.calls += 1
        try:
            out = chain.invoke(values)
        except LLMError as exc:
            self.failures += 1
            return {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - translated into the coach's words
            self.failures += 1
            error = translate_generic(exc, "the judge model", 0)
            return {"error": str(getattr(error, "error", error))}
        parsed = out.get("parsed") if isinstance(out, dict) else out
        if parsed is None:
            self.failures += 1
            raw = out.get("raw") if isinstance(out, dict) else None
            return {"error": empty, "raw": str(getattr(raw, "content", ""))[:200]}
        return {"parsed": parsed.model_dump() if hasattr(parsed, "model_dump") else dict(parsed)}

    def close(self) -> None:
        try:
            self.llm.close()
        except Exception:  # closing must never fail a run
            pass


class Judge(_StructuredJudge):
    """Rates one reply in context on the counselling rubric in `prompts/judge.yaml` (1-5)."""

    def rate(self, history: list[str], user: str, reply: str) -> dict[str, Any]:
        """{"scores": {dimension: 1-5}} or {"error": why}."""
        p = judge_prompt()
        dims = list(p["dimensions"])
        if self._chain is None:
            self._chain = self._build(p["system"], p["user"], scores_schema(dims),
                                      int(p.get("max_tokens", 80)))
        past = "\n".join(f"- {h}" for h in history[-6:]) or "(none)"
        got = self._ask(self._chain, {"history": past, "user": user, "reply": reply},
                        "the judge's answer held no valid scores")
        if "parsed" not in got:
            return got
        return {"scores": {d: int(got["parsed"][d]) for d in dims}}


@lru_cache(maxsize=2)
def _rubric_prompt(path: str) -> dict[str, Any]:
    data = yaml.safe_load(open(path, encoding="utf-8"))
    if not isinstance(data, dict) or not data.get("system") or not data.get("user"):
        raise ValueError(f"{path}: needs 'system' and 'user'")
    return data


def rubric_judge_prompt() -> dict[str, Any]:
    return _rubric_prompt(str(data_dir("prompts") / "rubric_judge.yaml"))


def verdicts_schema() -> type:
    """A pydantic model with one met / not_met / na field per rubric dimension."""
    from typing import Literal

    from pydantic import create_model

    from .rubric import DIMENSIONS

    return create_model("RubricVerdicts",
                        **{d: (Literal["met", "not_met", "na"], ...) for d in DIMENSIONS})


class RubricJudge(_StructuredJudge):
    """Scores the conversation-level safety rubric with any model, through structured output."""

    def rate_conversation(self, turns: list[tuple[str, str]]) -> dict[str, Any]:
        """{"verdicts": {dimension: met|not_met|na}} or {"error": why}."""
        if self._chain is None:
            p = rubric_judge_prompt()
            self._chain = self._build(p["system"], p["user"], verdicts_schema(),
                                      int(p.get("max_tokens", 200)))
        text = "\n\n".join(f"[{i}] Person: {u}\n[{i}] Chatbot: {a}"
                             for i, (u, a) in enumerate(turns))[-12000:]
        got = self._ask(self._chain, {"transcript": text},
                        "the judge's answer held no valid verdicts")
        return {"verdicts": got["parsed"]} if "parsed" in got else got
