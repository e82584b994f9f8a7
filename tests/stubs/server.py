"""What every provider stub shares: a loopback HTTP server on a free port, started in a daemon
thread, and a queue of faults ("429", "500", "503", "401") that the next requests answer with."""

from __future__ import annotations

import collections
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubServer:
    def _start(self, handler: type[BaseHTTPRequestHandler], *, faults: tuple[str, ...]) -> None:
        self._known_faults = faults
        self._faults: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

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
