"""The systems under test: the full coach and a plain chatbot, both behind `reply()`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from ..config import data_dir
from ..engine import TurnResult


@lru_cache(maxsize=2)
def _plain_prompt(path: str) -> dict[str, Any]:
    data = yaml.safe_load(open(path, encoding="utf-8"))
    if not isinstance(data, dict) or not data.get("system"):
        raise ValueError(f"{path}: needs a 'system' prompt")
    return data


def plain_prompt() -> dict[str, Any]:
    """The baseline's settings from prompts/plain_chatbot.yaml."""
    return _plain_prompt(str(data_dir("prompts") / "plain_chatbot.yaml"))


class PlainChatbot:
    """A language model with one generic coaching instruction and the chat history: nothing else."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.backend_name = getattr(llm, "name", "llm")
        self._history: dict[str, list[dict[str, str]]] = {}
        self._regions: dict[str, str] = {}

    def start_session(self, region: str | None = None, **_: Any) -> tuple[str, str]:
        """A new conversation; returns (id, welcome)."""
        sid = secrets.token_urlsafe(12)
        self._history[sid] = [{"role": "system", "content": plain_prompt()["system"]}]
        self._regions[sid] = region or "international"
        return sid, str(plain_prompt().get("welcome", ""))

    def reply(self, session_id: str, text: str) -> TurnResult:
        """The model's unfiltered answer to `text`, shaped like the coach's TurnResult."""
        p = plain_prompt()
        history = self._history[session_id]
        history.append({"role": "user", "content": text})
        answer = "".join(self.llm.chat(history, max_tokens=int(p.get("max_tokens", 220)),
                                       temperature=float(p.get("temperature", 0.6)))).strip()
        history.append({"role": "assistant", "content": answer})
        return TurnResult(session=session_id, turn=len(history) // 2, user=text, reply=answer,
                          stage="", sources=[], safety={}, referral=False,
                          backend=self.backend_name)

    def close(self) -> None:
        self._history.clear()


@dataclass
class Bot:
    """A labelled system under test: `kind` is "coach" or "plain", `llm` the backend's name."""

    kind: str
    llm: str
    system: Any

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.llm}"


@dataclass
class TurnRecord:
    """One answered turn as the checks see it; fields a system cannot report are None."""

    index: int
    user: str
    reply: str
    history: list[str] = field(default_factory=list)   # earlier user messages
    region: str = "international"
    stage: str | None = None
    prev_stage: str | None = None
    sources: list[dict] | None = None
    safety: dict | None = None
    referral: bool | None = None
    quick_exit: bool | None = None
    backend: str = ""
    error: str = ""

    @classmethod
    def from_result(cls, r: TurnResult, kind: str, index: int, history: list[str], region: str,
                    prev_stage: str | None) -> "TurnRecord":
        coach = kind == "coach"
        return cls(index=index, user=r.user, reply=r.reply, history=list(history), region=region,
                   stage=r.stage if coach else None, prev_stage=prev_stage if coach else None,
                   sources=list(r.sources) if coach else None,
                   safety=dict(r.safety) if coach else None,
                   referral=r.referral if coach else None,
                   quick_exit=r.quick_exit if coach else None, backend=r.backend)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "history"}
