"""A real Prometheus for tests: write OpenMetrics, backfill it with promtool, serve it.

Debian's ``prometheus`` package provides both binaries (``make test`` installs it). Backfilled
samples must lie in the past and the server keeps them only with a long retention, so series
here are stamped days ago and the server runs with ``--storage.tsdb.retention.time=100y``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import pytest

# (labels, [(unix seconds, value), ...]) for one series.
SeriesSamples = tuple[Mapping[str, str], Sequence[tuple[float, float]]]


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(
            f"{name} is not installed; `make test` installs it (Debian package `prometheus`)"
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    escaped = (
        f'{name}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for name, value in labels.items()
    )
    return "{" + ",".join(escaped) + "}"


def write_openmetrics(
    path: Path,
    families: Mapping[str, Iterable[SeriesSamples]],
    *,
    types: Mapping[str, str] | None = None,
) -> int:
    """Write families in OpenMetrics text (one family's samples together); returns samples.

    Families are gauges unless ``types`` names another OpenMetrics type. OpenMetrics wants a
    counter's samples named ``<family>_total``, which dcgm-exporter's counters (Prometheus text
    format) are not, so they are declared ``unknown``: the TSDB stores no type, and PromQL's
    ``increase()`` reads the same samples either way.
    """
    written = 0
    with path.open("w") as out:
        for name, series_list in families.items():
            out.write(f"# TYPE {name} {(types or {}).get(name, 'gauge')}\n")
            for labels, samples in series_list:
                prefix = name + _labels(labels)
                for timestamp, value in samples:
                    out.write(f"{prefix} {value!r} {timestamp!r}\n")
                    written += 1
        out.write("# EOF\n")
    return written


@contextlib.contextmanager
def running_prometheus(openmetrics: Path, workdir: Path) -> Iterator[str]:
    """Backfill ``openmetrics`` into a fresh TSDB, serve it, yield its URL, stop it after."""
    data = workdir / "tsdb"
    data.mkdir(parents=True, exist_ok=True)
    backfill = subprocess.run(
        [
            binary("promtool"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(openmetrics),
            str(data),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if backfill.returncode != 0:
        pytest.fail(f"promtool backfill failed: {backfill.stderr.strip()[-2000:]}")
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=100y",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(url, process, workdir / "prometheus.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited early: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"prometheus at {url} was not ready after 60 s: {log.read_text()[-2000:]}")
