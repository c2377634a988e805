"""Where things live and which knobs are set: one place that reads the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Privacy by default: no telemetry from any library we use, set before they are imported.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = Path(__file__).resolve().parent / "data"


def _default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "trust-coach"


def coach_home() -> Path:
    """The one folder that holds all user data (index, sessions, models). Created 0700."""
    home = Path(os.environ.get("COACH_HOME") or _default_home()).expanduser()
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        from .errors import CoachError

        raise CoachError(
            f"Can't use the data folder {home}: {exc.strerror}. "
            "Free some space, or set COACH_HOME to a folder you can write to."
        ) from None
    return home


def data_dir(name: str) -> Path:
    """A folder of project data (knowledge, prompts, evals); overridable by COACH_<NAME>_DIR."""
    override = os.environ.get(f"COACH_{name.upper()}_DIR")
    return Path(override).expanduser() if override else PROJECT_ROOT / name


@dataclass(frozen=True)
class Settings:
    """Settings read from the environment at call time (tests change the environment)."""

    chroma_url: str | None

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(chroma_url=os.environ.get("COACH_CHROMA_URL") or None)
