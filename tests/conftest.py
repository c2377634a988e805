"""Shared fixtures: every test gets its own COACH_HOME; real network is never needed."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COACH = str(BIN / "coach")


@pytest.fixture(autouse=True)
def coach_home(tmp_path_factory, monkeypatch):
    """Point all user data at a fresh temp folder and forget cached indexes."""
    home = tmp_path_factory.mktemp("coach_home")
    monkeypatch.setenv("COACH_HOME", str(home))
    monkeypatch.delenv("COACH_CHROMA_URL", raising=False)
    monkeypatch.delenv("COACH_DB_URL", raising=False)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        from coach import retrieval
        retrieval.reset_index_cache()
    except ImportError:
        pass
    yield home


CARD = """---
id: {id}
title: {title}
stage: {stage}
topics: [{topics}]
audience: {audience}
sources: none
tip: {tip}
questions:
  - {question}
---
{body}
"""


def write_card(folder: Path, id: str, *, title: str = "A card", stage: str = "communication",
               topics: str = "talking", audience: str = "both", tip: str = "Try one small step.",
               question: str = "What would help you most right now?", body: str | None = None,
               words: int = 100) -> Path:
    body = body if body is not None else " ".join(["word"] * words)
    path = folder / f"{id}.md"
    path.write_text(CARD.format(id=id, title=title, stage=stage, topics=topics, audience=audience,
                                tip=tip, question=question, body=body), encoding="utf-8")
    return path


@pytest.fixture
def kb_copy(tmp_path, monkeypatch):
    """A private copy of the curated knowledge base the test may edit."""
    dst = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", dst)
    monkeypatch.setenv("COACH_KNOWLEDGE_DIR", str(dst))
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def _index_template(tmp_path_factory):
    """The curated cards embedded once per test run (embedding 70 cards takes seconds)."""
    home = tmp_path_factory.mktemp("index_template")
    old = os.environ.get("COACH_HOME")
    os.environ["COACH_HOME"] = str(home)
    try:
        from coach import retrieval
        retrieval.reset_index_cache()
        retrieval.Index().ingest_curated(ROOT / "knowledge" / "cards")
        retrieval.reset_index_cache()
    finally:
        if old is None:
            os.environ.pop("COACH_HOME", None)
        else:
            os.environ["COACH_HOME"] = old
    return home / "chroma"


@pytest.fixture
def ready_index(_index_template, coach_home):
    """This test's COACH_HOME starts with the curated cards already indexed."""
    from coach import retrieval
    shutil.copytree(_index_template, coach_home / "chroma")
    retrieval.reset_index_cache()
    return coach_home
