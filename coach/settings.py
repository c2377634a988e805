"""Every setting the coach reads from the environment, in one typed, validated object.

No other module reads `os.environ`: they call `settings()`, which reads the environment once
and re-reads it only when one of the variables below changes (tests and `coach` commands set
them at run time). A bad value is reported as one plain line per variable ("COACH_LLM_TIMEOUT
must be a number of seconds of at least 0.1, not 'soon'."), never a silent default or a crash
deep inside a request.

The README's settings table is generated from the fields here (`python -m coach.settings
--markdown`) and a test checks that it is current.

Privacy switches (`apply_privacy_defaults`) are written into the environment before any library
that reads them is imported: Chroma and Gradio telemetry off, Hugging Face offline, and
LangChain/LangSmith tracing forced off unless COACH_LANGSMITH_TRACING=1 opts in.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import CoachError


class SettingsError(CoachError):
    """One or more environment variables hold a value the coach cannot use."""


def _f(env: str, default: Any, doc: str, expect: str, *, show_default: str | None = None,
       **constraints: Any) -> Any:
    """A field read from `env`, documented by `doc`; `expect` phrases a bad-value message."""
    return Field(default, validation_alias=AliasChoices(env), description=doc,
                 json_schema_extra={"env": env, "expect": expect,
                                    "show_default": show_default}, **constraints)


class Settings(BaseSettings):
    """The coach's configuration. Build it with `settings()`, not directly."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", frozen=True,
                                      populate_by_name=False)

    # --- where data lives ----------------------------------------------------------------
    home: Path | None = _f("COACH_HOME", None, "folder for all user data: index, sessions, "
                           "joined model, exports", "a folder path",
                           show_default="`$XDG_DATA_HOME/trust-coach` or "
                                        "`~/.local/share/trust-coach`")
    xdg_data_home: Path | None = _f("XDG_DATA_HOME", None, "base of the default `COACH_HOME`",
                                    "a folder path", show_default="`~/.local/share`")
    knowledge_dir: Path | None = _f("COACH_KNOWLEDGE_DIR", None, "guidance cards to use instead "
                                    "of the bundled `knowledge/`", "a folder path",
                                    show_default="bundled")
    prompts_dir: Path | None = _f("COACH_PROMPTS_DIR", None, "prompt and wording files instead "
                                  "of the bundled `prompts/`", "a folder path",
                                  show_default="bundled")
    evals_dir: Path | None = _f("COACH_EVALS_DIR", None, "evaluation data instead of the bundled "
                                "`evals/`", "a folder path", show_default="bundled")
    db_url: str | None = _f("COACH_DB_URL", None, "SQLAlchemy URL for sessions, e.g. "
                            "`postgresql+psycopg://user@host/db`", "a database URL",
                            show_default="SQLite in `COACH_HOME`")
    chroma_url: str | None = _f("COACH_CHROMA_URL", None, "a Chroma server (`chroma run`) "
                                "instead of the embedded index", "an http(s) URL",
                                show_default="embedded")

    # --- the language model --------------------------------------------------------------
    llm: str = _f("COACH_LLM", "local", "which model writes: `local` (embedded), `openai` (any "
                  "OpenAI-compatible server), `scripted` (no model), or "
                  "`langchain:package.module.ChatClass` (any LangChain chat model)",
                  "local, openai, scripted, fake or langchain:package.module.Class")
    model: str | None = _f("COACH_MODEL", None, "model name for `openai` and `langchain:` "
                           "backends", "a model name", show_default="asked from the server")
    llm_options: Annotated[dict[str, Any], NoDecode] = _f("COACH_LLM_OPTIONS", {}, "extra keyword arguments for a "
                                     "`langchain:` chat model, as a JSON object, e.g. "
                                     "`{\"num_ctx\": 4096}`", "a JSON object",
                                     show_default="`{}`")
    openai_base_url: str | None = _f("OPENAI_BASE_URL", None, "the server for `openai` (OpenAI, "
                                     "vLLM, Ollama, LM Studio, llama.cpp)", "an http(s) URL",
                                     show_default="`https://api.openai.com/v1`")
    openai_api_key: str | None = _f("OPENAI_API_KEY", None, "API key for `openai` (not needed "
                                    "for a server on this machine)", "a key")
    local_model: Path | None = _f("COACH_LOCAL_MODEL", None, "run another GGUF file with the "
                                  "`local` backend", "a .gguf file path",
                                  show_default="bundled Qwen2.5 1.5B")
    strategy: Literal["compose", "full"] | None = _f(
        "COACH_STRATEGY", None, "`compose` (the model writes one reflective sentence on a "
        "pre-filled raw completion) or `full` (the model writes the reply)", "compose or full",
        show_default="`compose` when the model offers raw completions with a known chat "
                     "template, else `full`")
    llm_timeout: float = _f("COACH_LLM_TIMEOUT", 60.0, "seconds before an LLM call gives up "
                            "(the turn then uses the composer)",
                            "a number of seconds of at least 0.1", ge=0.1)
    llm_first_token_timeout: float | None = _f(
        "COACH_LLM_FIRST_TOKEN_TIMEOUT", None, "longest silence before the first token (and "
        "between tokens)", "a number of seconds of at least 0.1",
        show_default="30, or `COACH_LLM_TIMEOUT` if lower", ge=0.1)
    llm_retries: int = _f("COACH_LLM_RETRIES", 2, "extra attempts before the first token on "
                          "connection errors, 429 and 5xx", "a whole number of at least 0", ge=0)
    llm_temperature: float = _f("COACH_LLM_TEMPERATURE", 0.6, "sampling temperature (0 makes "
                                "evaluations repeatable)", "a number from 0 to 2", ge=0.0, le=2.0)
    langsmith_tracing: bool = _f("COACH_LANGSMITH_TRACING", False, "opt in to LangSmith tracing "
                                 "(sends conversations to LangSmith); LangChain's own tracing "
                                 "variables are ignored without it", "1 or 0")

    # --- coaching ------------------------------------------------------------------------
    region: str = _f("COACH_REGION", "international", "region for crisis resources: `us uk ca "
                     "au ie nz international`", "a region name")

    # --- evaluation judge ----------------------------------------------------------------
    judge_llm: str | None = _f("COACH_JUDGE_LLM", None, "the judge's model as a backend name "
                               "(`openai`, `local`, `langchain:package.module.Class`)",
                               "a backend name", show_default="`openai` when "
                               "`COACH_JUDGE_BASE_URL` is set")
    judge_base_url: str | None = _f("COACH_JUDGE_BASE_URL", None, "OpenAI-compatible server for "
                                    "the optional eval judge", "an http(s) URL")
    judge_model: str | None = _f("COACH_JUDGE_MODEL", None, "the judge's model name",
                                 "a model name")
    judge_api_key: str | None = _f("COACH_JUDGE_API_KEY", None, "the judge server's API key",
                                   "a key")

    # --- web app -------------------------------------------------------------------------
    auth: str | None = _f("COACH_AUTH", None, "one `user:password` login for the web app and API",
                          "user:password", show_default="no login")
    auth_file: Path | None = _f("COACH_AUTH_FILE", None, "file of `user:password` lines (one "
                                "login per client)", "a file path")
    web_concurrency: int = _f("COACH_WEB_CONCURRENCY", 8, "replies generated at once in the web "
                              "app", "a whole number of at least 1", ge=1)
    web_watchdog_s: float = _f("COACH_WEB_WATCHDOG_S", 60.0, "seconds before the web app says a "
                               "reply is slow", "a number of seconds above 0", gt=0)
    web_preload_voice: bool = _f("COACH_WEB_PRELOAD_VOICE", True, "load speech models in the "
                                 "background when the web app starts", "1 or 0")
    api_rate: float = _f("COACH_API_RATE", 120.0, "API requests per minute per client (0 = no "
                         "limit)", "a number of requests per minute, 0 or more", ge=0)
    quick_exit_url: str = _f("COACH_QUICK_EXIT_URL", "https://www.bbc.com/weather", "where the "
                             "quick-exit button goes", "a URL")

    # --- voice ---------------------------------------------------------------------------
    voice_max_seconds: float = _f("COACH_VOICE_MAX_SECONDS", 120.0, "longest recording accepted",
                                  "a number of seconds above 0", gt=0)
    stt_model: Path | None = _f("COACH_STT_MODEL", None, "a CTranslate2 whisper folder for "
                                "speech recognition", "a folder path",
                                show_default="bundled whisper tiny.en")
    tts_backend: Literal["auto", "piper", "espeak", "espeak-ng"] = _f(
        "COACH_TTS_BACKEND", "auto", "speech engine: `piper` or `espeak`",
        "auto, piper or espeak", show_default="`auto` (Piper, else espeak-ng)")
    tts_voice: Path | None = _f("COACH_TTS_VOICE", None, "a Piper voice `.onnx` (with its "
                                "`.onnx.json`)", "a file path",
                                show_default="bundled joe-us voice")

    # --- logging -------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = _f(
        "COACH_LOG_LEVEL", "WARNING", "log detail", "DEBUG, INFO, WARNING, ERROR or CRITICAL")
    log_text: bool = _f("COACH_LOG_TEXT", False, "debug switch: allow message text in logs "
                        "(off: sizes only)", "1 or 0")

    @field_validator("log_level", "tts_backend", "strategy", mode="before")
    @classmethod
    def _case(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        return value.upper() if value.lower() in ("debug", "info", "warning", "error",
                                                   "critical") else value.lower()

    @field_validator("llm", "judge_llm", mode="before")
    @classmethod
    def _backend(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        if value.lower().startswith("langchain:"):
            target = value.split(":", 1)[1].strip()
            if "." not in target or not all(p.isidentifier() for p in target.split(".")):
                raise ValueError("bad langchain target")
            return "langchain:" + target
        return value.lower()

    @field_validator("llm_options", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("not JSON") from None
        if not isinstance(value, dict):
            raise ValueError("not an object")
        return value

    @field_validator("chroma_url", "openai_base_url", "judge_base_url", mode="before")
    @classmethod
    def _http(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip().lower().startswith(("http://",
                                                                            "https://")):
            raise ValueError("not an http url")
        return value.strip() if isinstance(value, str) else value

    # --- derived values ------------------------------------------------------------------
    @property
    def data_home(self) -> Path:
        """COACH_HOME, else the XDG default (not created here)."""
        if self.home is not None:
            return self.home.expanduser()
        base = self.xdg_data_home or Path.home() / ".local" / "share"
        return Path(base).expanduser() / "trust-coach"

    @property
    def first_token_timeout(self) -> float:
        first = 30.0 if self.llm_first_token_timeout is None else self.llm_first_token_timeout
        return min(first, self.llm_timeout)

    def data_override(self, name: str) -> Path | None:
        value = getattr(self, f"{name}_dir", None)
        return Path(value).expanduser() if value else None


FIELDS = Settings.model_fields
ENV_NAMES: tuple[str, ...] = tuple(f.json_schema_extra["env"] for f in FIELDS.values())
_ENV_TO_FIELD = {f.json_schema_extra["env"]: name for name, f in FIELDS.items()}

_lock = threading.Lock()
_cached: tuple[tuple[str | None, ...], Settings] | None = None


def _snapshot() -> tuple[str | None, ...]:
    return tuple(os.environ.get(name) for name in ENV_NAMES)


def _message(error: dict[str, Any]) -> str:
    key = str((error.get("loc") or ("?",))[0])
    name = _ENV_TO_FIELD.get(key) or key
    field = FIELDS.get(name)
    env = field.json_schema_extra["env"] if field is not None else key
    expect = field.json_schema_extra["expect"] if field is not None else "a valid value"
    return f"{env} must be {expect}, not {os.environ.get(env, error.get('input'))!r}."


def settings() -> Settings:
    """The settings in force now; read once, and again only when the environment changed."""
    global _cached
    snap = _snapshot()
    with _lock:
        if _cached is not None and _cached[0] == snap:
            return _cached[1]
        try:
            value = Settings()
        except ValidationError as exc:
            lines = sorted({_message(e) for e in exc.errors()})
            raise SettingsError(" ".join(lines)) from None
        _cached = (snap, value)
        return value


def check() -> list[str]:
    """Every bad value, one message each (empty when all are usable)."""
    try:
        Settings()
    except ValidationError as exc:
        return sorted({_message(e) for e in exc.errors()})
    return []


def child_environment(**extra: str) -> dict[str, str]:
    """The environment for a child process we start (the local model server), plus `extra`."""
    env = dict(os.environ)
    env.update(extra)
    return env


# --- privacy defaults ----------------------------------------------------------------------

_TRACING_VARS = ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING",
                 "LANGSMITH_TRACING_V2")


def tracing_allowed() -> bool:
    """True only when the person opted in with COACH_LANGSMITH_TRACING=1."""
    try:
        return settings().langsmith_tracing
    except SettingsError:
        return False


def apply_privacy_defaults() -> None:
    """Switch off telemetry and tracing in every library before it is imported."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if not tracing_allowed():
        for name in _TRACING_VARS:
            os.environ[name] = "false"


def set_gradio_temp_dir(path: Path) -> None:
    """Keep Gradio's upload cache in a private folder (Gradio reads GRADIO_TEMP_DIR)."""
    os.environ["GRADIO_TEMP_DIR"] = str(path)


# --- documentation -------------------------------------------------------------------------

TABLE_START = "<!-- settings-table:start (generated by python -m coach.settings --markdown) -->"
TABLE_END = "<!-- settings-table:end -->"


def _default_text(field: Any) -> str:
    extra = field.json_schema_extra
    if extra.get("show_default"):
        return extra["show_default"]
    value = field.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def markdown_table() -> str:
    """The settings table for the README, from the fields above."""
    rows = ["| variable | what it sets | default |", "|---|---|---|"]
    for field in FIELDS.values():
        env = field.json_schema_extra["env"]
        rows.append(f"| `{env}` | {field.description} | {_default_text(field)} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--markdown"]:
        print(markdown_table())
        return 0
    if args == ["--check"]:
        problems = check()
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    print("usage: python -m coach.settings --markdown | --check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
