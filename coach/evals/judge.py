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


def scores_schema(dimensions: list[str]) -> type:
    """A pydantic model with one whole-number 1-5 field per rubric dimension."""
    from pydantic import Field, create_model

    fields = {d: (int, Field(ge=1, le=5, description=f"{d} score from 1 to 5"))
              for d in dimensions}
    return create_model("JudgeScores", **fields)


class Judge:
    """Rates one reply in context with structured output; failures are recorded, never scored.

    The judge is any coach backend that exposes its LangChain chat model (`openai`, `local`,
    `langchain:...`); the rubric's scores come back through `with_structured_output`, so a
    reply is either a complete, valid set of scores or a recorded failure.
    """

    def __init__(self, llm: Any, model: str = "") -> None:
        self.llm = llm
        self.model = model
        self.calls = 0
        self.failures = 0
        self._chain: Any = None

    @classmethod
    def from_env(cls) -> "Judge | None":
        """A judge from COACH_JUDGE_LLM or COACH_JUDGE_BASE_URL + _MODEL (+ _API_KEY), else None."""
        from ..llm import get_backend

        s = settings()
        model = (s.judge_model or "").strip()
        if s.judge_llm and s.judge_llm != "openai":
            llm = get_backend(s.judge_llm, **({"model": model} if model and
                                             s.judge_llm.startswith("langchain:") else {}))
            return cls(llm, model or s.judge_llm)
        url = (s.judge_base_url or "").strip()
        if not url or not model:
            return None
        llm = get_backend("openai", base_url=url, model=model,
                          api_key=s.judge_api_key or "not-needed")
        return cls(llm, model)

    def _runnable(self, p: dict[str, Any]) -> Any:
        if self._chain is None:
            from ..prompting import chat_prompt

            make = getattr(self.llm, "structured_model", None)
            if make is None:
                raise LLMUnsupported(f"The judge backend {getattr(self.llm, 'name', '?')!r} "
                                     "has no LangChain chat model for structured output.")
            chat, method = make(max_tokens=int(p.get("max_tokens", 80)), temperature=0.0)
            schema = scores_schema(list(p["dimensions"]))
            structured = chat.with_structured_output(schema, include_raw=True,
                                                     **({"method": method} if method else {}))
            self._chain = chat_prompt(p["system"], p["user"]) | structured
        return self._chain

    def rate(self, history: list[str], user: str, reply: str) -> dict[str, Any]:
        """{"scores": {dimension: 1-5}} or {"error": why}."""
        from ..llm.langchain_backend import translate_generic

        p = judge_prompt()
        dims = list(p["dimensions"])
        past = "\n".join(f"- {h}" for h in history[-6:]) or "(none)"
        self.calls += 1
        try:
            out = self._runnable(p).invoke({"history": past, "user": user, "reply": reply})
        except LLMError as exc:
            self.failures += 1
            return {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - translated into the coach's words
            error = translate_generic(exc, "the judge model", 0)
            self.failures += 1
            return {"error": str(getattr(error, "error", error))}
        parsed = out.get("parsed") if isinstance(out, dict) else out
        if parsed is None:
            self.failures += 1
            raw = out.get("raw") if isinstance(out, dict) else None
            return {"error": "the judge's answer held no valid scores",
                    "raw": str(getattr(raw, "content", ""))[:200]}
        data = parsed.model_dump() if hasattr(parsed, "model_dump") else dict(parsed)
        return {"scores": {d: int(data[d]) for d in dims}}

    def close(self) -> None:
        try:
            self.llm.close()
        except Exception:  # closing must never fail a run
            pass
