"""A tiny OpenAI-compatible SSE server on 127.0.0.1 with failure modes, for tests and benchmarks.

Each request takes the next mode from `script` (default `default_mode`, normally "ok"):
ok, 500, 429, 404, 400, hang, refuse, garbage, empty, hang_after_first, drop.
`tokens` is what "ok" streams; `delay` waits before the first token (a slow model).
Run as a program (`python tests/fake_openai.py --port P`) to get one in its own process.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKENS = ["It ", "sounds ", "like ", "you ", "feel ", "hurt."]
# A reply long enough to pass the engine's checks under the "full" strategy.
GOOD_REPLY = [
    "That sounds ", "really painful, ", "and it makes sense ", "that you feel shaken. ",
    "What would help ", "you feel a little ", "steadier this week?",
]


class FakeServer:
    """A tiny OpenAI-compatible server; each request takes the next mode from `script`."""

    def __init__(self, port: int = 0, tokens: list[str] | None = None) -> None:
        self.script: list[str] = []
        self.default_mode = "ok"
        self.requests: list[tuple[str, dict]] = []
        self.release = threading.Event()  # ends any hang when the test finishes
        self.trickle = 0.0
        self.delay = 0.0
        self.sent = 0  # tokens written to clients (a client that hangs up stops the count)
        self.tokens = list(tokens or TOKENS)
        self.started = threading.Event()  # set when a request has arrived
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                if self.path.rstrip("/") == "/v1/models":
                    self._json(
                        200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
                    )
                else:
                    self._json(404, {"error": {"message": "no such path"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append((self.path, body))
                server.started.set()
                mode = server.script.pop(0) if server.script else server.default_mode
                kind = "chat" if self.path.endswith("/chat/completions") else "complete"
                if mode == "500":
                    return self._json(
                        500, {"error": {"message": "model crashed", "type": "server_error"}}
                    )
                if mode == "429":
                    return self._json(
                        429, {"error": {"message": "slow down", "type": "rate_limit"}}
                    )
                if mode == "404":
                    return self._json(404, {"error": {"message": "not here", "type": "not_found"}})
                if mode == "400":
                    return self._json(
                        400, {"error": {"message": "context too long", "type": "bad_request"}}
                    )
                if mode == "hang":
                    server.release.wait(10)
                    return
                if mode == "refuse":
                    # Close without a response: the client sees a dropped connection.
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if server.delay:
                    time.sleep(server.delay)
                self._start_stream()
                if mode == "garbage":
                    self._chunk(b"data: {this is not json\n\n")
                elif mode == "empty":
                    self._event(kind, None, role=True)
                elif mode == "hang_after_first":
                    self._event(kind, server.tokens[0])
                    server.release.wait(10)
                    return
                elif mode == "drop":
                    self._event(kind, server.tokens[0])
                    self._event(kind, server.tokens[1])
                    self.close_connection = True
                    self.connection.shutdown(2)  # no terminating chunk: an incomplete body
                    return
                else:
                    self._event(kind, None, role=True)
                    for token in server.tokens:
                        self._event(kind, token)
                        server.sent += 1
                        if server.trickle:
                            time.sleep(server.trickle)
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")

            def _json(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _start_stream(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

            def _chunk(self, data: bytes):
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _event(self, kind, text, role=False):
                if kind == "chat":
                    delta = {"role": "assistant"} if role else {"content": text}
                    choice = {"index": 0, "delta": delta, "finish_reason": None}
                    obj = "chat.completion.chunk"
                else:
                    choice = {"index": 0, "text": text or "", "finish_reason": None}
                    obj = "text_completion"
                payload = {
                    "id": "x",
                    "object": obj,
                    "created": 0,
                    "model": "fake-model",
                    "choices": [choice],
                }
                self._chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

        class Quiet(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                # Clients hanging up mid-stream is what the timeout tests do on purpose.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.httpd = Quiet(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str] | None = None) -> int:
    """Serve until killed: `--port`, `--mode` for every request, `--delay` before first token."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--good", action="store_true", help="stream a full coaching reply")
    args = parser.parse_args(argv)
    server = FakeServer(args.port, tokens=GOOD_REPLY if args.good else None)
    server.default_mode = args.mode
    server.delay = args.delay
    print(server.url, flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
