"""The optional LLM judge, against a tiny real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coach.cli import main
from coach.evals.judge import Judge, parse_scores

GOOD = '{"empathy": 4, "reflection": 5, "collaboration": 3, "autonomy": 4, "helpfulness": 2}'


class _Server:
    """Answers /v1/chat/completions with `answer(request_json)`, streamed as SSE or as one JSON."""

    def __init__(self, answer):
        self.answer = answer
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body,
                                       "auth": self.headers.get("Authorization")})
                text = outer.answer(body)
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for piece in (text[: len(text) // 2], text[len(text) // 2:]):
                        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                                 "model": body["model"], "choices": [
                                     {"index": 0, "delta": {"content": piece},
                                      "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                else:
                    payload = {"id": "c1", "object": "chat.completion", "created": 0,
                               "model": body["model"], "choices": [{
                                   "index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": text}}]}
                    data = json.dumps(payload).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def judge_env(monkeypatch):
    def setup(url):
        monkeypatch.setenv("COACH_JUDGE_BASE_URL", url)
        monkeypatch.setenv("COACH_JUDGE_MODEL", "judge-model")
        monkeypatch.setenv("COACH_JUDGE_API_KEY", "secret-key")
        monkeypatch.setenv("COACH_LLM_RETRIES", "0")
    return setup


def test_parse_scores_takes_only_complete_valid_answers():
    dims = ["empathy", "reflection", "collaboration", "autonomy", "helpfulness"]
    assert parse_scores(f"Sure! {GOOD} Hope that helps.", dims)["reflection"] == 5
    assert parse_scores('{"empathy": 4}', dims) is None
    assert parse_scores(GOOD.replace("4", "9"), dims) is None
    assert parse_scores("I'd say empathy 4 out of 5", dims) is None


def test_judge_off_without_configuration(monkeypatch):
    monkeypatch.delenv("COACH_JUDGE_BASE_URL", raising=False)
    assert Judge.from_env() is None


def test_judge_rates_transcripts_through_a_real_http_server(judge_env, tmp_path):
    with _Server(lambda body: GOOD) as server:
        judge_env(server.url)
        path = tmp_path / "t.jsonl"
        path.write_text(json.dumps({"conversation": "c1", "user": "he lied about where he was",
                                    "assistant": "It sounds like you feel hurt. What happened?"})
                        + "\n", encoding="utf-8")
        assert main(["eval", "--transcripts", str(path), "--out", str(tmp_path / "r")]) == 0
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["body"]["model"] == "judge-model"
    assert req["auth"] == "Bearer secret-key"
    sent = json.dumps(req["body"]["messages"])
    assert "he lied about where he was" in sent and "It sounds like you feel hurt" in sent
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["meta"]["judge"] == "judge-model"
    turn = results["conversations"][0]["turns"][0]
    assert turn["judge"]["scores"] == json.loads(GOOD)
    assert results["transcripts"]["summary"]["judge"]["helpfulness"] == 2
    assert "Judge: empathy (1-5) | 4.00" in (tmp_path / "r" / "report.md").read_text()


def test_unusable_judge_answers_leave_scores_absent(judge_env, tmp_path):
    with _Server(lambda body: "These replies seem fine to me.") as server:
        judge_env(server.url)
        judge = Judge.from_env()
        got = judge.rate([], "she keeps secrets", "I hear how worried you are.")
    assert "scores" not in got and "no valid scores" in got["error"]
    assert judge.failures == 1


def test_unreachable_judge_is_recorded_not_fatal(judge_env, tmp_path):
    from conftest import free_port

    judge_env(f"http://127.0.0.1:{free_port()}/v1")
    got = Judge.from_env().rate([], "hi", "Thank you for telling me that.")
    assert "scores" not in got and got["error"]
