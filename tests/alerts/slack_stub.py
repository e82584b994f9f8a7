"""A local Slack: the Web API methods and the incoming webhook spendwatch uses, on 127.0.0.1.

It answers with Slack's documented shapes (``{"ok": true, "channel", "ts"}``, the webhook's
plain ``ok``, ``users_not_found``…), checks the bot token like Slack does, records every
request, and can be told to fail the next message posts with a 429 + Retry-After, a 500,
``invalid_auth``, ``channel_not_found``, ``invalid_blocks``, or by not answering in time.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULTS = ("429", "500", "invalid_auth", "channel_not_found", "invalid_blocks", "timeout")
# How the webhook reports the same faults: an HTTP status and a plain-text code.
WEBHOOK_FAULTS = {
    "500": (500, "internal_error"),
    "invalid_auth": (403, "invalid_token"),
    "channel_not_found": (404, "channel_not_found"),
    "invalid_blocks": (400, "invalid_blocks"),
}


@dataclasses.dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    outcome: str  # ok | a fault name | users_not_found …


class SlackStub:
    def __init__(self, *, token: str = "xoxb-stub-token", webhook_secret: str = "T0/B0/stubsecret"):
        self.token = token
        self.webhook_path = f"/services/{webhook_secret}"
        self.users: dict[str, str] = {}
        self.requests: list[Recorded] = []
        self.retry_after = 1
        self.hang_seconds = 2.0
        self._faults: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._ts = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        # shutdown() waits for the serve loop's next poll: 0.5 s by default, per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_base_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{self.webhook_path}"

    def fail_next(self, *faults: str) -> None:
        """The next message posts (one per fault, in order) fail this way."""
        unknown = set(faults) - set(FAULTS)
        assert not unknown, f"unknown faults {unknown}; use {FAULTS}"
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def posts(self) -> list[Recorded]:
        """Messages Slack accepted (chat.postMessage and webhook), in order."""
        return [r for r in self.requests if r.outcome == "ok" and _is_post(r.path, self)]

    def attempts(self) -> list[Recorded]:
        return [r for r in self.requests if _is_post(r.path, self)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self) -> str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _next_ts(self) -> str:
        with self._lock:
            self._ts += 1
            return f"1727697600.{self._ts:06d}"


def _is_post(path: str, stub: SlackStub) -> bool:
    return path in ("/api/chat.postMessage", stub.webhook_path)


def _handler(stub: SlackStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            body = self._body()
            body |= {k: v[0] for k, v in parse_qs(parts.query).items()}
            record = Recorded(self.command, parts.path, dict(self.headers.items()), body, "ok")
            stub.requests.append(record)
            if parts.path == stub.webhook_path:
                self._webhook(record)
            elif parts.path.startswith("/api/"):
                self._api(record, parts.path.removeprefix("/api/"))
            else:
                record.outcome = "not_found"
                self._send(404, "text/plain", b"no_service")

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            if not raw:
                return {}
            if "json" in (self.headers.get("Content-Type") or ""):
                return dict(json.loads(raw))
            return {k: v[0] for k, v in parse_qs(raw).items()}

        def _webhook(self, record: Recorded) -> None:
            fault = stub._next_fault()
            if fault is None:
                self._send(200, "text/html", b"ok")
                return
            record.outcome = fault
            if fault == "timeout":
                self._hang()
            elif fault == "429":
                self._send(
                    429, "text/plain", b"rate_limited", {"Retry-After": str(stub.retry_after)}
                )
            else:
                status, code = WEBHOOK_FAULTS[fault]
                self._send(status, "text/plain", code.encode())

        def _api(self, record: Recorded, method: str) -> None:
            if record.headers.get("Authorization") != f"Bearer {stub.token}":
                record.outcome = "invalid_auth"
                self._json(200, {"ok": False, "error": "invalid_auth"})
                return
            if method == "users.lookupByEmail":
                user = stub.users.get(str(record.body.get("email", "")).lower())
                if user is None:
                    record.outcome = "users_not_found"
                    self._json(200, {"ok": False, "error": "users_not_found"})
                else:
                    self._json(200, {"ok": True, "user": {"id": user, "name": "stub"}})
                return
            if method != "chat.postMessage":
                record.outcome = "unknown_method"
                self._json(404, {"ok": False, "error": "unknown_method"})
                return
            fault = stub._next_fault()
            record.outcome = fault or "ok"
            if fault == "timeout":
                self._hang()
            elif fault == "429":
                headers = {"Retry-After": str(stub.retry_after)}
                self._json(429, {"ok": False, "error": "ratelimited"}, headers)
            elif fault == "500":
                self._json(500, {"ok": False, "error": "internal_error"})
            elif fault is not None:
                self._json(200, {"ok": False, "error": fault})
            else:
                channel = record.body.get("channel")
                ts = stub._next_ts()
                message = {"text": record.body.get("text"), "ts": ts}
                self._json(200, {"ok": True, "channel": channel, "ts": ts, "message": message})

        def _hang(self) -> None:
            time.sleep(stub.hang_seconds)  # longer than the client's timeout
            with contextlib.suppress(OSError):  # the client has gone
                self._json(200, {"ok": False, "error": "too_late"})

        def _json(
            self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            self._send(
                status, "application/json; charset=utf-8", json.dumps(data).encode(), headers
            )

        def _send(
            self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler
