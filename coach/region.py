"""Noticing where someone is ("I'm in Ireland") so crisis resources fit their country."""

from __future__ import annotations

import re
from functools import lru_cache

from .safety.resources import _regions

_CUE = r"(?:i'?m in|i am in|i live in|living in|we live in|we'?re in|we are in|here in|based in|i'?m from|i am from)"
# Short codes people type; "us" only as "the US" (it is also a pronoun).
_CODES = {"uk": "uk", "u.k.": "uk", "nz": "nz", "the us": "us", "the u.s.": "us", "the usa": "us"}
# Words that name a country but are too ambiguous alone ("can", "other", "world").
_AMBIGUOUS = {"can", "other", "world", "global", "intl", "america"}


@lru_cache(maxsize=4)
def _pattern(key: int) -> tuple[re.Pattern[str], dict[str, str]]:
    names: dict[str, str] = {}
    for code, region in _regions().items():
        if code == "international":
            continue
        for word in (region.name.lower(), *region.aliases):
            if word not in _AMBIGUOUS and len(word) > 2:
                names[word] = code
    names.update(_CODES)
    alternatives = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    return re.compile(rf"\b{_CUE}\s+(?:the\s+)?({alternatives})(?![\w.])", re.I), names


def detect_region(text: str) -> str | None:
    """The region code a message says the person is in, if it says so plainly."""
    pattern, names = _pattern(len(_regions()))
    m = pattern.search(text)
    return names[m.group(1).lower()] if m else None
