"""The OpenAI-compatible backend against a small real HTTP server: streaming, retries, timeouts."""

from __future__ import annotations

import threading
import time

import pytest

from coach.errors import CoachError, InputError
from coach.llm import (
    LLMBadResponse,
    LLMTimeout,
    LLMUnavailable,
    LLMUnsupported,
    RequestPolicy,
    get_backend,
)
from coach.llm.openai_backend import Endpoint, OpenAIBackend

from fake_openai import TOKENS, FakeServer

SECRET = "my partner read my diary"  # user text must never show up in an error message


@pytest.fixture
def server():
    srv = FakeServer()
    yield srv
    srv.close()


FAST = RequestPolicy(
    timeout=5.0, first_token_timeout=0.6, connect_timeout=1.0, retries=2, backoff=0.01
)


def backend_for(server: FakeServer, policy: RequestPolicy = FAST, **kw) -> OpenAIBackend:
    return OpenAIBackend(
        endpoint=Endpoint(base_url=server.url, api_key="k", model="fake-model"), policy=policy, **kw
    )


MESSAGES = [{"role": "user", "content": SECRET}]


def test_chat_streams_token_by_token(server):
    backend = backend_for(server)
    deltas = list(backend.chat(MESSAGES, max_tokens=20, temperature=0.3, stop=["\n"]))
    assert deltas == TOKENS
    path, body = server.requests[0]
    assert path == "/v1/chat/completions"
    assert body["stream"] is True and body["model"] == "fake-model"
    assert body["messages"] == MESSAGES and body["max_tokens"] == 20 and body["stop"] == ["\n"]


def test_complete_streams_from_raw_completions_endpoint(server):
    backend = backend_for(server, sampling={"top_p": 0.9, "top_k": 40})
    text = "".join(
        backend.complete("<|im_start|>assistant\nIt sounds like you feel", max_tokens=12)
    )
    assert text == "".join(TOKENS)
    path, body = server.requests[0]
    assert path == "/v1/completions"
    assert body["prompt"].endswith("It sounds like you feel")
    assert body["top_p"] == 0.9 and body["top_k"] == 40  # server-specific knobs reach the server


def test_nothing_is_sent_until_the_stream_is_read(server):
    stream = backend_for(server).chat(MESSAGES)
    assert server.requests == []
    assert next(stream) == TOKENS[0]


def test_server_error_is_retried_before_the_first_token(server):
    server.script = ["500", "ok"]
    assert "".join(backend_for(server).chat(MESSAGES)) == "".join(TOKENS)
    assert len(server.requests) == 2


def test_dropped_connection_before_any_token_is_retried(server):
    server.script = ["refuse", "ok"]
    assert "".join(backend_for(server).chat(MESSAGES)) == "".join(TOKENS)
    assert len(server.requests) == 2


def test_rate_limit_gives_up_after_configured_retries(server):
    server.script = ["429"] * 5
    with pytest.raises(LLMBadResponse) as info:
        list(backend_for(server).chat(MESSAGES))
    assert len(server.requests) == 3  # first try + 2 retries
    assert "busy" in str(info.value) and "429" in str(info.value)


def test_retries_can_be_turned_off(server, monkeypatch):
    monkeypatch.setenv("COACH_LLM_RETRIES", "0")
    server.script = ["500", "ok"]
    policy = RequestPolicy.from_env()
    with pytest.raises(LLMBadResponse, match="HTTP 500"):
        list(backend_for(server, policy=policy).chat(MESSAGES))
    assert len(server.requests) == 1


def test_no_retry_after_tokens_were_streamed(server):
    server.script = ["drop", "ok"]
    got = []
    with pytest.raises(LLMUnavailable):
        for delta in backend_for(server).chat(MESSAGES):
            got.append(delta)  # noqa: PERF402 - we keep what arrived before the error
    assert got == TOKENS[:2]  # what arrived was delivered, then the error, never a second answer
    assert len(server.requests) == 1


def test_hang_before_first_token_times_out_without_retry(server):
    server.script = ["hang"]
    started = time.monotonic()
    with pytest.raises(LLMTimeout) as info:
        list(backend_for(server).chat(MESSAGES))
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed  # first-token timeout is 0.6 s: no stacked retries of a hang
    assert len(server.requests) == 1
    assert "did not answer within" in str(info.value)


def test_stall_after_first_token_times_out(server):
    server.script = ["hang_after_first"]
    stream = backend_for(server).chat(MESSAGES)
    assert next(stream) == TOKENS[0]
    with pytest.raises(LLMTimeout):
        next(stream)
    assert len(server.requests) == 1


def test_whole_request_timeout_stops_a_slow_trickle(server):
    server.trickle = 0.25
    policy = RequestPolicy(timeout=0.8, first_token_timeout=0.6, connect_timeout=0.5, retries=0)
    started = time.monotonic()
    with pytest.raises(LLMTimeout, match="did not finish within 0.8 s"):
        list(backend_for(server, policy=policy).chat(MESSAGES))
    assert time.monotonic() - started < 2.0


def test_per_call_timeout_overrides_the_default(server):
    server.script = ["hang"]
    policy = RequestPolicy(timeout=30, first_token_timeout=30, connect_timeout=1, retries=0)
    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        list(backend_for(server, policy=policy).chat(MESSAGES, timeout=0.5))
    assert time.monotonic() - started < 2.0


def test_garbage_json_is_a_bad_response(server):
    server.script = ["garbage"]
    with pytest.raises(LLMBadResponse, match="could not be read"):
        list(backend_for(server).chat(MESSAGES))
    assert len(server.requests) == 1


def test_empty_reply_is_a_bad_response(server):
    server.script = ["empty"]
    with pytest.raises(LLMBadResponse, match="empty reply"):
        list(backend_for(server).chat(MESSAGES))


def test_client_error_is_not_retried_and_says_why(server):
    server.script = ["400", "ok"]
    with pytest.raises(LLMBadResponse, match="context too long"):
        list(backend_for(server).chat(MESSAGES))
    assert len(server.requests) == 1


def test_missing_completions_endpoint_is_unsupported(server):
    server.script = ["404"]
    with pytest.raises(LLMUnsupported, match="raw text completions"):
        list(backend_for(server).complete("Hello"))


def test_server_down_is_unavailable_with_a_plain_message(server):
    url = server.url
    server.close()
    backend = OpenAIBackend(endpoint=Endpoint(base_url=url, api_key="k", model="m"), policy=FAST)
    with pytest.raises(LLMUnavailable) as info:
        list(backend.chat(MESSAGES))
    message = str(info.value)
    assert "Can't reach the language model at 127.0.0.1" in message
    assert "\n" not in message and SECRET not in message
    assert backend.health() is False


def test_errors_are_one_line_and_never_echo_the_users_words(server):
    for mode, error in [("500", LLMBadResponse), ("garbage", LLMBadResponse), ("hang", LLMTimeout)]:
        server.script = [mode] * 3
        with pytest.raises(error) as info:
            list(backend_for(server).chat(MESSAGES))
        assert "\n" not in str(info.value) and SECRET not in str(info.value)
        assert isinstance(info.value, CoachError)


def test_bad_messages_are_rejected_before_any_request(server):
    backend = backend_for(server)
    with pytest.raises(InputError):
        backend.chat([])
    with pytest.raises(InputError):
        backend.chat([{"role": "user"}])
    with pytest.raises(InputError):
        backend.complete("")
    assert server.requests == []


def test_chat_template_unknown_for_remote_servers(server):
    with pytest.raises(LLMUnsupported):
        backend_for(server).chat_template(MESSAGES)


def test_chat_template_renders_with_prefill(server):
    template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    backend = backend_for(server, template=template, template_tokens={"eos_token": "</s>"})
    prompt = backend.chat_template(MESSAGES, prefill="It sounds like you feel")
    assert prompt == f"<|user|>{SECRET}</s>\n<|assistant|>It sounds like you feel"


def test_get_backend_openai_reads_env_and_asks_the_server_for_its_model(server, monkeypatch):
    monkeypatch.setenv("COACH_LLM", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("COACH_MODEL", raising=False)
    backend = get_backend()
    assert backend.name == "openai"
    assert backend.health() is True
    assert "".join(backend.chat(MESSAGES)) == "".join(TOKENS)
    assert server.requests[0][1]["model"] == "fake-model"
    backend.close()


def test_openai_without_key_or_url_says_what_to_set(monkeypatch):
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "COACH_MODEL"):
        monkeypatch.delenv(var, raising=False)
    backend = get_backend("openai")
    with pytest.raises(LLMUnavailable, match="OPENAI_API_KEY"):
        list(backend.chat(MESSAGES))


def test_bad_timeout_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COACH_LLM_TIMEOUT", "soon")
    with pytest.raises(CoachError, match="COACH_LLM_TIMEOUT must be a number"):
        RequestPolicy.from_env()
    monkeypatch.setenv("COACH_LLM_TIMEOUT", "12")
    monkeypatch.delenv("COACH_LLM_FIRST_TOKEN_TIMEOUT", raising=False)
    policy = RequestPolicy.from_env()
    assert policy.timeout == 12 and policy.first_token_timeout == 12 and policy.retries == 2


def test_unknown_backend_name_lists_the_choices(monkeypatch):
    with pytest.raises(CoachError, match="choose one of: fake, local, openai"):
        get_backend("gpt-9")


def test_concurrent_requests_from_several_threads(server):
    backend = backend_for(server)
    results: list[str] = []
    errors: list[Exception] = []

    def ask():
        try:
            results.append("".join(backend.chat(MESSAGES)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == [] and results == ["".join(TOKENS)] * 6
