"""The whole engine on the real embedded model (llama.cpp server on 127.0.0.1)."""

from __future__ import annotations

import pytest

from coach.engine import Coach, Delta, TurnResult

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ready_index")]
LABELS = ("narcissist", "gaslight", "manipulat", "disorder", "toxic")


@pytest.fixture(scope="module")
def local_model(tmp_path_factory):
    from coach.llm import local

    return local.prepare_model(tmp_path_factory.mktemp("model_home"))


@pytest.fixture
def local_coach(local_model):
    from coach.llm.local import LocalBackend

    backend = LocalBackend(local_model)
    coach = Coach(llm=backend, region="us")
    yield coach
    coach.close()


def test_a_real_session_on_the_local_model(local_coach):
    sid, _ = local_coach.start_session()
    first = local_coach.reply(sid, "I found texts from his ex on his phone and I feel sick about it")
    assert first.backend == "local", first.notice
    assert first.reply.startswith("It sounds like you feel")
    assert first.reply.count("?") == 1
    second = local_coach.reply(sid, "He cheated on me last year and swore it was over")
    events = list(local_coach.respond(sid, "I can't stop imagining them together, it's every night"))
    result = events[-1]
    assert isinstance(result, TurnResult)
    assert any(isinstance(e, Delta) for e in events[:-1])
    for r in (first, second, result):
        low = r.reply.lower()
        assert not any(label in low for label in LABELS), r.reply
        assert r.reply.count("?") <= 1
    assert result.sources and result.stage not in ("welcome", "understand")


def test_crisis_on_the_local_model_is_answered_without_it(local_coach):
    sid, _ = local_coach.start_session()
    r = local_coach.reply(sid, "i have the pills ready and i'm going to take them tonight")
    assert r.safety["level"] == "urgent" and r.backend == "scripted"
    assert "988" in r.reply


def test_killed_model_server_falls_back_then_recovers(local_coach):
    import os
    import signal

    sid, _ = local_coach.start_session()
    local_coach.reply(sid, "My wife lied to me about money and I feel hurt")
    process = local_coach.llm.server.process  # the supervised llama.cpp server
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    r = local_coach.reply(sid, "She hid a credit card from me for two years")
    assert r.reply  # the turn completes either way
    again = local_coach.reply(sid, "I'm so anxious that there's more she hasn't told me")
    assert again.backend == "local", "the supervisor should have restarted the server"
