"""What every provider stub shares: a loopback HTTP server on a free port, started in a daemon
thread, a queue of faults ("429", "500", "503", "401") that the next requests answer with, and
the JSON request handling. A stub only says how it routes a request (:meth:`StubServer.route`)
and which methods and Content-Type it uses; every request is recorded in ``stub.requests``."""

from __future__ import annotations

import collections
import dataclasses
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

# What a route answers: the status, extra response headers and the JSON document.
Reply = tuple[int, dict[str, str], Any]


class RawNumber(str):
    """A number written into the JSON as this exact text (Azure sends more digits than floats)."""


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: Any  # the JSON body sent; {} when there is none


@dataclasses.dataclass
class Recorded(Request):
    status: int


class StubServer:
    methods: ClassVar[tuple[str, ...]] = ("GET",)
    # Each API's own spelling, which clients may see.
    content_type: ClassVar[str]

    def _start(self, *, faults: tuple[str, ...]) -> None:
        self._known_faults = faults
        self._faults: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self.requests: list[Recorded] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def route(self, request: Request) -> Reply:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, *faults: str) -> None:
        unknown = set(faults) - set(self._known_faults)
        assert not unknown, f"unknown faults {unknown}; use {self._known_faults}"
        with self._lock:
            self._faults.extend(faults)

    def next_fault(self) -> str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def encode_json(document: Any) -> bytes:
    """JSON with RawNumber values written as bare numbers, exactly as given."""
    marker = "\x00num:"

    def mark(value: Any) -> Any:
        if isinstance(value, RawNumber):
            return marker + str(value) + marker
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    text = json.dumps(mark(document))
    return text.replace('"\\u0000num:', "").replace('\\u0000num:"', "").encode()


def _handler(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            if method not in stub.methods:
                # What BaseHTTPRequestHandler answers for a method it has no do_ for.
                self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({method!r})")
                return
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            headers_seen = {name.lower(): value for name, value in self.headers.items()}
            request = Request(method, parts.path, parse_qs(parts.query), headers_seen, body)
            status, headers, document = stub.route(request)
            stub.requests.append(Recorded(**vars(request), status=status))
            payload = encode_json(document)
            self.send_response(status)
            self.send_header("Content-Type", stub.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler
