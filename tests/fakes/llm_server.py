"""A loopback HTTP server speaking the OpenAI chat-completions and Anthropic Messages wire formats.

Stands in for a paid LLM in tests. ``server.answer`` (a string) is the model's reply; ``server.mode`` picks a
misbehaviour: "ok", "slow" (sleeps past any sane timeout), "error" (HTTP 500), "refusal", "echo_key_401".
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLLM:
    def __init__(self) -> None:
        self.answer = '{"actions": []}'
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.requests.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                anthropic = self.path.endswith("/messages")
                if outer.mode == "slow":
                    time.sleep(5)
                if outer.mode == "error":
                    return self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
                if outer.mode == "echo_key_401":
                    key = self.headers.get("x-api-key") or self.headers.get("Authorization", "").split()[-1]
                    return self._send(
                        401,
                        {"error": {"message": f"Incorrect API key provided: {key}", "type": "authentication_error"}},
                    )
                if anthropic:
                    stop = "refusal" if outer.mode == "refusal" else "end_turn"
                    return self._send(
                        200,
                        {
                            "id": "msg_1",
                            "type": "message",
                            "role": "assistant",
                            "model": body.get("model"),
                            "content": [{"type": "text", "text": outer.answer}],
                            "stop_reason": stop,
                            "stop_sequence": None,
                            "usage": {"input_tokens": 1, "output_tokens": 1},
                        },
                    )
                message: dict[str, Any] = {"role": "assistant", "content": outer.answer}
                if outer.mode == "refusal":
                    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
                return self._send(
                    200,
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model"),
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
