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


def _source_tree() -> bool:
    """True when running from a checkout (editable install), where the top-level folders live."""
    return (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "knowledge").is_dir()


def data_dir(name: str) -> Path:
    """A folder of project data (knowledge, prompts, evals); overridable by COACH_<NAME>_DIR.

    In a checkout these are the repository's top-level folders; an installed wheel carries the
    same folders as the package `coach._data` (mapped in pyproject.toml), read through
    importlib.resources.
    """
    override = os.environ.get(f"COACH_{name.upper()}_DIR")
    if override:
        return Path(override).expanduser()
    if _source_tree():
        return PROJECT_ROOT / name
    from importlib.resources import files

    return Path(str(files("coach._data") / name))


@dataclass(frozen=True)
class Settings:
    """Settings read from the environment at call time (tests change the environment)."""

    chroma_url: str | None

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(chroma_url=os.environ.get("COACH_CHROMA_URL") or None)
