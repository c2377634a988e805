"""The LLM prompts in `prompts/*.yaml` as LangChain `ChatPromptTemplate`s (same files, same words).

A system text whose `{...}` fields are all plain names is a template; any other system text is
kept literally (the judge's system text shows a JSON example whose braces are not fields). The human part is
always a template. `as_dicts` turns the rendered messages into the coach's chat format.
"""

from __future__ import annotations

import string
from typing import Any


def _fields(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError:  # unbalanced braces: not a template
        return set()


def chat_prompt(system: str, human: str = "{user_text}") -> Any:
    """A ChatPromptTemplate of one system and one human message."""
    from langchain_core.messages import SystemMessage
    from langchain_core.prompts import ChatPromptTemplate

    names = _fields(system)
    is_template = bool(names) and all(n.isidentifier() for n in names)
    system_part: Any = ("system", system) if is_template else SystemMessage(content=system)
    return ChatPromptTemplate.from_messages([system_part, ("human", human)])


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def as_dicts(messages: list[Any]) -> list[dict]:
    """LangChain messages as {"role", "content"} dicts for the coach's LLM interface."""
    return [{"role": _ROLES.get(m.type, m.type), "content": str(m.content)} for m in messages]


def render(system: str, human: str = "{user_text}", **values: Any) -> list[dict]:
    """Render the two-message prompt with `values` into chat dicts."""
    return as_dicts(chat_prompt(system, human).format_messages(**values))
