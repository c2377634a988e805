"""Optional LLM judge: any OpenAI-compatible model rates replies 1-5 on a counselling rubric."""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from typing import Any

import yaml

from ..config import data_dir
from ..llm import LLMError

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


class Judge:
    """Rates one reply in context; failures are recorded, never turned into made-up scores."""

    def __init__(self, llm: Any, model: str = "") -> None:
        self.llm = llm
        self.model = model
        self.calls = 0
        self.failures = 0

    @classmethod
    def from_env(cls) -> "Judge | None":
        """A judge from COACH_JUDGE_BASE_URL / _MODEL / _API_KEY, or None when not configured."""
        url = os.environ.get("COACH_JUDGE_BASE_URL", "").strip()
        model = os.environ.get("COACH_JUDGE_MODEL", "").strip()
        if not url or not model:
            return None
        from ..llm import get_backend

        llm = get_backend("openai", base_url=url, model=model,
                          api_key=os.environ.get("COACH_JUDGE_API_KEY") or "not-needed")
        return cls(llm, model)

    def rate(self, history: list[str], user: str, reply: str) -> dict[str, Any]:
        """{"scores": {dimension: 1-5}} or {"error": why}."""
        p = judge_prompt()
        dims = list(p["dimensions"])
        past = "\n".join(f"- {h}" for h in history[-6:]) or "(none)"
        messages = [{"role": "system", "content": p["system"]},
                    {"role": "user", "content": p["user"].format(history=past, user=user,
                                                                 reply=reply)}]
        self.calls += 1
        try:
            text = "".join(self.llm.chat(messages, max_tokens=int(p.get("max_tokens", 80)),
                                         temperature=0.0))
        except LLMError as exc:
            self.failures += 1
            return {"error": str(exc)}
        scores = parse_scores(text, dims)
        if scores is None:
            self.failures += 1
            return {"error": "the judge's answer held no valid scores", "raw": text[:200]}
        return {"scores": scores}

    def close(self) -> None:
        try:
            self.llm.close()
        except Exception:  # closing must never fail a run
            pass
