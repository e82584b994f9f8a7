"""The NVML host agent behind ``spendwatch agent``: sample every GPU, roll up by the hour.

Two ways to deliver what it reads:

* **warehouse** (default): samples are kept in memory and, once an hour has ended (the first
  sample of a later hour arrives), that hour's rollup is written with ``load_gpu_hourly`` under
  source ``nvml``. A failed write keeps the samples and is retried on the next tick. On stop,
  the unfinished hour is written too, so a host shut down at 10:30 still has its 10:00 hour.
* **/metrics** (``--serve-metrics PORT``): the latest reading is served in dcgm-exporter's
  names and labels, so the Prometheus collector reads this host like any dcgm-exporter host.
  Nothing is written to the warehouse in this mode.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy.engine import Engine

from collectors.base import floor_hour
from collectors.gpu_rollup import GpuSample, hourly_rollup
from collectors.nvml_source import GpuReading, NvmlSession
from warehouse.load_gpu import load_gpu_hourly

log = logging.getLogger(__name__)

SOURCE = "nvml"
MIB = 1024 * 1024


def sample_of(reading: GpuReading, *, resource_id: str) -> GpuSample:
    return GpuSample(
        resource_id=resource_id,
        gpu_id=reading.uuid or str(reading.index),
        at=reading.at,
        util_percent=reading.util_percent,
        mem_used_bytes=reading.mem_used_bytes,
        mem_total_bytes=reading.mem_total_bytes,
        power_watts=reading.power_watts,
        gpu_model=reading.name or None,
    )


class NvmlAgent:
    """Samples through an open :class:`NvmlSession`; writes hours to ``engine`` when given."""

    def __init__(
        self, session: NvmlSession, *, resource_id: str, engine: Engine | None = None
    ) -> None:
        self.session = session
        self.resource_id = resource_id
        self.engine = engine
        self.pending: list[GpuSample] = []
        self.latest: list[GpuReading] = []
        self.rows_written = 0
        self._lock = threading.Lock()  # the HTTP thread reads `latest` while we sample

    def sample(self, *, now: dt.datetime) -> list[GpuReading]:
        """Read every GPU once; write every hour that ended before ``now``."""
        readings = self.session.read(now=now)
        with self._lock:
            self.latest = readings
        if self.engine is not None:
            self.pending += [sample_of(r, resource_id=self.resource_id) for r in readings]
            self.flush(before=floor_hour(now))
        return readings

    def flush(self, *, before: dt.datetime | None = None) -> int:
        """Write pending samples older than ``before`` (all when None); returns rows written."""
        if self.engine is None:
            return 0
        done = [s for s in self.pending if before is None or s.at < before]
        if not done:
            return 0
        rows = hourly_rollup(done, source=SOURCE)
        try:
            with self.engine.begin() as connection:
                written = load_gpu_hourly(connection, rows)
        except Exception as exc:  # the database may be briefly away: keep samples, retry
            log.warning("nvml agent: could not write %d rows (%s); retrying", len(rows), exc)
            return 0
        kept = {id(s) for s in done}
        self.pending = [s for s in self.pending if id(s) not in kept]
        self.rows_written += written
        return written

    def metrics_text(self, *, hostname: str) -> str:
        with self._lock:
            readings = list(self.latest)
        return render_metrics(readings, hostname=hostname)


# -- /metrics in dcgm-exporter's names -----------------------------------------------------

_FAMILIES: tuple[tuple[str, str, Callable[[GpuReading], float | None]], ...] = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", lambda r: r.util_percent),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", lambda r: r.mem_used_bytes // MIB),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", lambda r: r.mem_free_bytes // MIB),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", lambda r: r.power_watts),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_metrics(readings: list[GpuReading], *, hostname: str) -> str:
    """Prometheus text format; a metric a GPU does not report (MIG util) is left out."""
    lines = []
    for name, help_text, read in _FAMILIES:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for reading in readings:
            value = read(reading)
            if value is None:
                continue
            labels = (
                f'gpu="{reading.index}",UUID="{_label(reading.uuid)}",'
                f'modelName="{_label(reading.name)}",Hostname="{_label(hostname)}"'
            )
            lines.append(f"{name}{{{labels}}} {_number(value)}")
    return "\n".join(lines) + "\n"


def serve_metrics(
    agent: NvmlAgent, *, hostname: str, address: str = "127.0.0.1", port: int = 9400
) -> ThreadingHTTPServer:
    """Start serving ``/metrics`` on a daemon thread; ``port=0`` picks a free port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404, "only /metrics is served")
                return
            body = agent.metrics_text(hostname=hostname).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("metrics: " + format, *args)

    server = ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, name="nvml-metrics", daemon=True).start()
    return server


def run_agent(
    agent: NvmlAgent,
    *,
    interval_seconds: float,
    stop: threading.Event,
    clock: Callable[[], float] = time.time,
) -> None:
    """Sample on a fixed grid (no drift from slow reads) until ``stop``; then write the rest."""
    start = clock()
    tick = 0
    try:
        while not stop.is_set():
            agent.sample(now=dt.datetime.fromtimestamp(clock(), dt.UTC))
            tick += 1
            stop.wait(max(0.0, start + tick * interval_seconds - clock()))
    finally:
        agent.flush()
