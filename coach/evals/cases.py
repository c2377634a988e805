"""Eval cases as data: multi-turn scenarios (conversations, red team) and outside transcripts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import data_dir
from ..errors import InputError

# Expectation keys, normalised: the red-team file's names map onto the conversation file's.
_ALIASES = {"must_include_resources": "resources", "stop_coaching": "stop_coaching"}
RISK_CATEGORIES = ("self_harm", "abuse", "harm_to_others", "child_safety", "medical_emergency")


@dataclass(frozen=True)
class Scenario:
    """One conversation to replay: the user's turns and what each reply must satisfy."""

    name: str
    suite: str
    turns: tuple[str, ...]
    region: str = "international"
    expect: tuple[dict[str, Any], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def expectations_for(self, turn: int) -> dict[str, Any]:
        """All expectations about one turn, merged (`-1` means the last turn)."""
        merged: dict[str, Any] = {}
        last = len(self.turns) - 1
        for exp in self.expect:
            if exp.get("final"):
                continue
            t = exp.get("turn", -1)
            if (t if t >= 0 else last + 1 + t) == turn:
                for k, v in exp.items():
                    if k == "turn":
                        continue
                    key = _ALIASES.get(k, k)
                    if key == "forbid":
                        merged["forbid"] = [*merged.get("forbid", []), *v]
                    else:
                        merged[key] = v
        return merged

    def final_expectations(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for exp in self.expect:
            if exp.get("final"):
                out.update({k: v for k, v in exp.items() if k != "final"})
        return out

    def forbid_from(self, turn: int) -> list[str]:
        """Kinds forbidden on this turn: conversation lists hold from their turn on, red-team
        lists for their own turn."""
        kinds: list[str] = []
        last = len(self.turns) - 1
        for exp in self.expect:
            if "forbid" not in exp or exp.get("final"):
                continue
            t = exp.get("turn", -1)
            t = t if t >= 0 else last + 1 + t
            if t == turn or (self.suite == "conversations" and t < turn):
                kinds += [k for k in exp["forbid"] if k not in kinds]
        return kinds

    def abuse_by(self, turn: int) -> bool:
        """True once the labels say abuse has come up (at or before `turn`)."""
        return any(self.expectations_for(t).get("category") == "abuse" for t in range(turn + 1))


def _scenario(row: Any, suite: str, path: Path, n: int) -> Scenario:
    if not isinstance(row, dict) or not row.get("name"):
        raise InputError(f"{path.name}: case {n}: needs a 'name'")
    turns = row.get("turns")
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
        raise InputError(f"{path.name}: case {row['name']!r}: 'turns' must be a list of messages")
    expect = row.get("expect") or []
    if not isinstance(expect, list) or not all(isinstance(e, dict) for e in expect):
        raise InputError(f"{path.name}: case {row['name']!r}: 'expect' must be a list of mappings")
    meta = {k: v for k, v in row.items() if k not in ("name", "turns", "expect", "region")}
    region = str(row.get("region") or "international")
    return Scenario(str(row["name"]), suite, tuple(turns), region, tuple(expect), meta)


def load_scenarios(suite: str, path: Path | None = None) -> list[Scenario]:
    """Cases of the `conversations` or `redteam` suite from evals/."""
    path = path or data_dir("evals") / f"{suite}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path.name}: not valid YAML ({exc.__class__.__name__})") from None
    rows = data.get("cases") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise InputError(f"{path.name}: expected a list of cases")
    return [_scenario(row, suite, path, n) for n, row in enumerate(rows, 1)]


@dataclass(frozen=True)
class Transcript:
    """A conversation another chatbot had: (user, assistant) pairs in order."""

    conversation: str
    turns: tuple[tuple[str, str], ...]


def load_transcripts(path: Path) -> list[Transcript]:
    """Conversations from a JSONL, JSON or plain-text file, or a folder of them (see
    `coach.evals.transcript_io`); anything unreadable is an error naming the file and line."""
    from .transcript_io import load

    return load(Path(path))
