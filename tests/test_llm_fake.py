"""The shared test doubles behave like a real streaming backend and fail loudly when misused."""

from __future__ import annotations

import pytest

from coach.llm import LLMBackend, LLMError, LLMTimeout, get_backend
from coach.llm.fake import FunctionLLM, ScriptedLLM, ScriptExhausted

MSGS = [{"role": "user", "content": "I keep checking his phone."}]


def test_scripted_replies_come_in_order_and_in_several_deltas():
    llm = ScriptedLLM(["It sounds like you feel uneasy.", "What would help?"])
    first = list(llm.chat(MSGS))
    assert len(first) > 1 and "".join(first) == "It sounds like you feel uneasy."
    assert "".join(llm.complete("prompt")) == "What would help?"
    assert [c["kind"] for c in llm.calls] == ["chat", "complete"]
    assert llm.calls[0]["messages"] == MSGS


def test_scripted_raises_queued_exceptions_and_runs_out_loudly():
    llm = ScriptedLLM([LLMTimeout("slow"), "ok"])
    with pytest.raises(LLMTimeout):
        list(llm.chat(MSGS))
    assert "".join(llm.chat(MSGS)) == "ok"
    with pytest.raises(ScriptExhausted, match="ran out of replies") as info:
        list(llm.chat(MSGS))
    assert not isinstance(info.value, LLMError)  # an engine's LLM fallback must not swallow it


def test_function_model_sees_the_request():
    llm = FunctionLLM(lambda call: f"echo {call['max_tokens']} {call['messages'][-1]['role']}")
    assert "".join(llm.chat(MSGS, max_tokens=7)) == "echo 7 user"


def test_fakes_satisfy_the_interface_and_registry():
    llm = get_backend("fake", replies=["hi"])
    assert isinstance(llm, LLMBackend) and isinstance(FunctionLLM(lambda c: "x"), LLMBackend)
    prompt = llm.chat_template(MSGS, prefill="It sounds like you feel")
    assert prompt.endswith("assistant\nIt sounds like you feel")
    assert llm.health() is True
    llm.close()
    assert llm.health() is False


def test_slow_function_model_does_not_serialise_threads():
    import threading
    import time

    llm = FunctionLLM(lambda call: time.sleep(0.4) or "done")
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: list(llm.chat(MSGS))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert time.monotonic() - started < 1.0 and len(llm.calls) == 3
