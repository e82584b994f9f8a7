"""A small Prometheus HTTP API client: ``query_range`` with retries and one-line errors.

Works against Prometheus and the compatible query APIs (Thanos, Mimir, VictoriaMetrics). Basic
auth may be given in the URL (``https://user:pass@host``); messages only ever show the URL with
the credentials removed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from warehouse.errors import SourceError

# Prometheus refuses a query_range whose series would exceed this many points.
MAX_POINTS_PER_SERIES = 11_000


def display_url(url: str) -> str:
    """The URL without user, password, query or fragment: safe for logs and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclasses.dataclass(frozen=True, slots=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float | None]]  # (unix seconds, value); NaN/Inf become None


class PrometheusClient:
    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.strip():
            raise SourceError(
                "prometheus: no URL configured; set SPENDWATCH_PROMETHEUS__URL "
                "or [prometheus] url in spendwatch.toml"
            )
        self.url = url.rstrip("/")
        self.shown_url = display_url(self.url)
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.queries = 0  # requests that got an answer, for run details and the benchmark
        self._sleep = sleep
        self._http = httpx.Client(timeout=timeout_seconds, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def query_range(self, query: str, *, start: float, end: float, step: float) -> list[Series]:
        """Evaluate ``query`` at ``start, start+step, ... <= end`` (unix seconds)."""
        points = math.floor((end - start) / step) + 1
        if points > MAX_POINTS_PER_SERIES:
            raise SourceError(
                f"prometheus at {self.shown_url}: {points} points per series exceeds "
                f"{MAX_POINTS_PER_SERIES}; lower prometheus.chunk_hours"
            )
        form = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        # POST: the rollup expressions are long, and form bodies have no URL length limit.
        data = self._post("/api/v1/query_range", form)
        if data.get("resultType") != "matrix":
            raise SourceError(
                f"prometheus at {self.shown_url}: expected a matrix from query_range, "
                f"got {data.get('resultType')!r}; is this a Prometheus query API?"
            )
        return [
            Series(
                labels=dict(item.get("metric", {})),
                points=[(float(ts), _number(value)) for ts, value in item.get("values", [])],
            )
            for item in data.get("result", [])
        ]

    def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        last_problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                response = self._http.post(self.url + path, data=form)
            except httpx.TransportError as exc:
                reason = _one_line(exc).replace(self.url, self.shown_url)  # no credentials
                last_problem = f"cannot connect ({type(exc).__name__}: {reason})"
                continue
            if response.status_code >= 500 or response.status_code == 429:
                last_problem = f"HTTP {response.status_code}: {_api_error(response)}"
                continue
            self.queries += 1
            if response.status_code != 200:
                raise SourceError(
                    f"prometheus at {self.shown_url} refused a query: HTTP "
                    f"{response.status_code}: {_api_error(response)}; check the URL and credentials"
                )
            body = _json(response)
            if body.get("status") != "success":
                raise SourceError(
                    f"prometheus at {self.shown_url}: query failed: {_api_error(response)}"
                )
            data: dict[str, Any] = body.get("data") or {}
            return data
        raise SourceError(
            f"prometheus at {self.shown_url}: {last_problem} after {self.retries + 1} attempts; "
            "check that Prometheus is running and prometheus.url is right"
        )


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _api_error(response: httpx.Response) -> str:
    body = _json(response)
    if body.get("error"):
        return _one_line(f"{body.get('errorType', 'error')}: {body['error']}")
    return _one_line(response.text[:200]) or response.reason_phrase


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
