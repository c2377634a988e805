"""Where things live: the data folder and the project's data folders (from `coach.settings`)."""

from __future__ import annotations

from pathlib import Path

from .settings import apply_privacy_defaults, settings

# Privacy by default: no telemetry or tracing from any library we use, set before they load.
apply_privacy_defaults()

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = Path(__file__).resolve().parent / "data"


def coach_home() -> Path:
    """The one folder that holds all user data (index, sessions, models). Created 0700."""
    home = settings().data_home
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
    override = settings().data_override(name)
    if override is not None:
        return override
    if _source_tree():
        return PROJECT_ROOT / name
    from importlib.resources import files

    return Path(str(files("coach._data") / name))


def chroma_url() -> str | None:
    """The Chroma server in use (COACH_CHROMA_URL), or None for the embedded index."""
    return settings().chroma_url
