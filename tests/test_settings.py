"""One settings object: read once, validated with one clear line per bad value, documented."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import COACH, ROOT, child_env
from conftest import child_env as base_env

from coach import settings as settings_mod
from coach.settings import ENV_NAMES, SettingsError, check, markdown_table, settings


def test_defaults_are_the_documented_ones(monkeypatch):
    for name in ENV_NAMES:
        if name not in ("COACH_HOME",):
            monkeypatch.delenv(name, raising=False)
    s = settings()
    assert (s.llm, s.llm_timeout, s.first_token_timeout, s.llm_retries) == ("local", 60, 30, 2)
    assert s.region == "international" and s.web_concurrency == 8 and s.api_rate == 120
    assert s.langsmith_tracing is False and s.log_text is False and s.log_level == "WARNING"


def test_the_environment_is_read_again_only_when_it_changes(monkeypatch):
    monkeypatch.setenv("COACH_REGION", "uk")
    first = settings()
    assert settings() is first  # cached while nothing changed
    monkeypatch.setenv("COACH_REGION", "au")
    assert settings() is not first and settings().region == "au"


@pytest.mark.parametrize("name, value, words", [
    ("COACH_LLM_TIMEOUT", "soon", "a number of seconds of at least 0.1"),
    ("COACH_LLM_TIMEOUT", "0", "a number of seconds of at least 0.1"),
    ("COACH_LLM_RETRIES", "-1", "a whole number of at least 0"),
    ("COACH_LLM_TEMPERATURE", "hot", "a number from 0 to 2"),
    ("COACH_WEB_CONCURRENCY", "many", "a whole number of at least 1"),
    ("COACH_WEB_WATCHDOG_S", "-5", "a number of seconds above 0"),
    ("COACH_API_RATE", "fast", "a number of requests per minute"),
    ("COACH_VOICE_MAX_SECONDS", "0", "a number of seconds above 0"),
    ("COACH_TTS_BACKEND", "festival", "auto, piper or espeak"),
    ("COACH_STRATEGY", "fancy", "compose or full"),
    ("COACH_LOG_LEVEL", "loud", "DEBUG, INFO, WARNING"),
    ("COACH_LLM", "langchain:nodots", "langchain:package.module.Class"),
    ("COACH_LLM_OPTIONS", "{num_ctx: 4}", "a JSON object"),
    ("COACH_LLM_OPTIONS", "[1, 2]", "a JSON object"),
    ("COACH_CHROMA_URL", "localhost:8000", "an http(s) URL"),
    ("COACH_LANGSMITH_TRACING", "maybe", "1 or 0"),
])
def test_a_bad_value_gets_one_plain_line_naming_it(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        settings()
    message = str(err.value)
    assert message.startswith(f"{name} must be ") and words in message and repr(value) in message
    assert "\n" not in message and "pydantic" not in message.lower()


def test_every_bad_value_is_listed_once(monkeypatch):
    monkeypatch.setenv("COACH_LLM_TIMEOUT", "soon")
    monkeypatch.setenv("COACH_WEB_CONCURRENCY", "0")
    lines = check()
    assert len(lines) == 2 and lines[0].startswith("COACH_LLM_TIMEOUT")


def test_the_cli_reports_a_bad_setting_without_a_traceback(monkeypatch):
    out = subprocess.run([COACH, "chat", "--llm", "scripted", "--script", "/dev/null"],
                         capture_output=True, text=True, timeout=120,
                         env=child_env(COACH_LLM_TIMEOUT="soon"))
    assert out.returncode != 0
    assert "COACH_LLM_TIMEOUT must be a number of seconds" in out.stderr
    assert "Traceback" not in out.stderr


def test_no_module_but_settings_reads_the_environment():
    offenders = []
    pattern = re.compile(r"os\.environ(?!\[\"GRADIO)|os\.getenv|environ\.get\(")
    for path in sorted((ROOT / "coach").rglob("*.py")):
        if path.name == "settings.py" or "_data" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_the_readme_table_is_generated_from_the_settings():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = settings_mod.TABLE_START, settings_mod.TABLE_END
    assert start in readme and end in readme
    table = readme.split(start, 1)[1].split(end, 1)[0].strip()
    assert table == markdown_table(), "run: python -m coach.settings --markdown"
    for name in ENV_NAMES:
        assert f"`{name}`" in table


def test_tracing_is_forced_off_unless_the_person_opts_in():
    code = ("import os, coach.config; from langchain_core.tracers.context import "
            "_tracing_v2_is_enabled; print(os.environ['LANGSMITH_TRACING'], "
            "bool(_tracing_v2_is_enabled()))")
    python = str(Path(COACH).parent / "python")

    def child_env(**extra):
        clean = {k: v for k, v in base_env().items() if "TRACING" not in k}
        return {**clean, **extra}

    off = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, env=child_env(LANGSMITH_TRACING="true",
                                                 LANGCHAIN_TRACING_V2="true",
                                                 LANGSMITH_API_KEY="lsv2-test"))
    assert off.stdout.split() == ["false", "False"], off.stderr
    on = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                        cwd=ROOT, env=child_env(LANGSMITH_TRACING="true",
                                                COACH_LANGSMITH_TRACING="1",
                                                LANGSMITH_API_KEY="lsv2-test"))
    assert on.stdout.split() == ["true", "True"], on.stderr
