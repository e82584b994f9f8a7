"""Prometheus that is down, flaky or refuses a query: failed runs with a clear one-line reason.

The server side is faked at the HTTP level: a closed port, and a local ``http.server`` that
answers the way Prometheus does (``{"status": "error", "errorType": ..., "error": ...}``).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from sqlalchemy.engine import Engine

from collectors.base import run_collector
from collectors.prometheus_gpu import PrometheusGpuCollector
from collectors.prometheus_http import PrometheusClient, display_url
from tests.prometheus_server import free_port
from warehouse.db import make_engine
from warehouse.errors import SourceError
from warehouse.runs import last_runs

H = dt.timedelta(hours=1)
NOW = dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.UTC)


class FlakyPrometheus(BaseHTTPRequestHandler):
    """Answers ``replies`` in order (status, body), then an empty matrix forever."""

    replies: ClassVar[list[tuple[int, dict[str, object]]]] = []
    requests: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = dict(
            pair.split("=", 1) for pair in self.rfile.read(length).decode().split("&") if pair
        )
        type(self).requests.append(form)
        status, body = (
            type(self).replies.pop(0)
            if type(self).replies
            else (200, {"status": "success", "data": {"resultType": "matrix", "result": []}})
        )
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[str]:
    FlakyPrometheus.replies = []
    FlakyPrometheus.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyPrometheus)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_prometheus_down_gives_a_failed_run_naming_the_url_without_credentials(
    engine: Engine,
) -> None:
    port = free_port()  # nothing listens here: connection refused
    collector = PrometheusGpuCollector(
        f"http://admin:s3cret@127.0.0.1:{port}", retries=2, backoff_seconds=0.01
    )
    outcome = run_collector(engine, collector, now=NOW)

    assert outcome.status == "failed"
    run = last_runs(engine)["prometheus"]
    assert run.status == "failed"
    assert run.watermark is None
    assert run.error == outcome.error
    assert run.error is not None
    assert run.error.startswith(f"prometheus at http://127.0.0.1:{port}: cannot connect")
    assert "after 3 attempts" in run.error
    assert "s3cret" not in run.error and "admin" not in run.error
    assert "\n" not in run.error
    # The first run reaches back initial_window (24 h) from now.
    assert (run.window_start, run.window_end) == (NOW - 24 * H, NOW)


def test_5xx_is_retried_then_succeeds(flaky: str) -> None:
    FlakyPrometheus.replies = [(503, {"status": "error", "error": "overloaded"})]
    slept: list[float] = []
    client = PrometheusClient(
        flaky, timeout_seconds=5, retries=2, backoff_seconds=0.5, sleep=slept.append
    )
    assert client.query_range("up", start=0, end=3600, step=3600) == []
    assert slept == [0.5]
    assert len(FlakyPrometheus.requests) == 2
    assert client.queries == 1


def test_5xx_every_time_gives_up_with_the_last_reason(flaky: str) -> None:
    FlakyPrometheus.replies = [(503, {"status": "error", "error": "overloaded"})] * 3
    slept: list[float] = []
    client = PrometheusClient(
        flaky, timeout_seconds=5, retries=2, backoff_seconds=0.5, sleep=slept.append
    )
    with pytest.raises(SourceError) as failure:
        client.query_range("up", start=0, end=3600, step=3600)
    assert slept == [0.5, 1.0]  # exponential backoff
    assert str(failure.value) == (
        f"prometheus at {flaky}: HTTP 503: error: overloaded after 3 attempts; "
        "check that Prometheus is running and prometheus.url is right"
    )


def test_a_refused_query_is_not_retried(flaky: str) -> None:
    FlakyPrometheus.replies = [
        (400, {"status": "error", "errorType": "bad_data", "error": 'parse error: unexpected "}"'})
    ]
    client = PrometheusClient(flaky, timeout_seconds=5, retries=3, sleep=lambda _s: None)
    with pytest.raises(SourceError, match=r"HTTP 400: bad_data: parse error") as failure:
        client.query_range("up}", start=0, end=3600, step=3600)
    assert len(FlakyPrometheus.requests) == 1
    assert flaky in str(failure.value)


def test_a_chunk_is_refused_before_it_exceeds_11000_points(flaky: str) -> None:
    client = PrometheusClient(flaky, timeout_seconds=5)
    with pytest.raises(SourceError, match="11001 points per series exceeds 11000"):
        client.query_range("up", start=0, end=11_000 * 3600, step=3600)
    assert FlakyPrometheus.requests == []


def test_queries_evaluate_at_the_end_of_each_hour_minus_a_millisecond(flaky: str) -> None:
    h0 = dt.datetime(2026, 11, 18, tzinfo=dt.UTC)
    collector = PrometheusGpuCollector(flaky, chunk_hours=24)
    # The fake answers every query with an empty matrix, so nothing reaches the warehouse.
    result = collector.collect(make_engine("sqlite://"), since=h0, until=h0 + 2 * H)
    assert (result.rows, result.watermark) == (0, h0 + 2 * H)
    # Points at 00:59:59.999 and 01:59:59.999: each covers exactly [H, H + 1h).
    first = FlakyPrometheus.requests[0]
    start = h0.timestamp() + 3600 - 0.001
    assert (first["start"], first["end"], first["step"]) == (
        f"{start:.3f}",
        f"{start + 3600:.3f}",
        "3600",
    )


def test_display_url_hides_credentials_and_query() -> None:
    assert display_url("https://u:p@prom.example:9090/api/prom?token=x") == (
        "https://prom.example:9090/api/prom"
    )
