"""Prometheus GPU collector benchmark: one day of a dcgm-exporter fleet into SQLite.

A real Prometheus is backfilled (promtool, not timed) with 1,000 GPUs (100 with ``--quick``)
scraped every 60 s for one day, then spendwatch collects that day: hourly rollups computed in
Prometheus, loaded into ``gpu_hourly``. The same-run baseline is what a user would otherwise
write: fetch the raw samples (``METRIC[1h]`` per metric and hour) and aggregate in Python; it
does not even write to a database, so the ratio is conservative.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from bench.memory import peak_rss_mb
from collectors.prometheus_gpu import PrometheusGpuCollector
from tests.prometheus_server import running_prometheus
from warehouse.db import make_engine, upgrade

HOSTS_PER_8_GPUS = 8
SCRAPE_SECONDS = 60
METRICS = (
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_POWER_USAGE",
)


def write_fleet(path: Path, *, gpus: int, start: int) -> int:
    samples = 0
    with path.open("w") as out:
        for index, metric in enumerate(METRICS):
            out.write(f"# TYPE {metric} gauge\n")
            for gpu in range(gpus):
                host, slot = divmod(gpu, HOSTS_PER_8_GPUS)
                prefix = (
                    f'{metric}{{gpu="{slot}",UUID="GPU-{host:04d}-{slot}",'
                    f'modelName="NVIDIA A100-SXM4-80GB",Hostname="node-{host:04d}",'
                    f'instance_id="i-{host:017x}",instance="10.1.0.{host % 250}:9400",job="dcgm"}}'
                )
                out.writelines(
                    f"{prefix} {(gpu * 7 + k * (index + 1)) % 101} {start + k * SCRAPE_SECONDS}\n"
                    for k in range(86_400 // SCRAPE_SECONDS)
                )
                samples += 86_400 // SCRAPE_SECONDS
        out.write("# EOF\n")
    return samples


def raw_pull_baseline(url: str, *, day: dt.datetime) -> tuple[int, int]:
    """Raw samples per metric and hour, aggregated in Python; returns (gpu-hours, queries)."""
    hourly: dict[tuple[str, int], dict[str, tuple[float, float, int]]] = defaultdict(dict)
    queries = 0
    with httpx.Client(timeout=120) as client:
        for metric in METRICS:
            for hour in range(24):
                at = day.timestamp() + (hour + 1) * 3600 - 0.001
                body = client.post(
                    f"{url}/api/v1/query", data={"query": f"{metric}[1h]", "time": f"{at:.3f}"}
                ).json()
                queries += 1
                for series in body["data"]["result"]:
                    values = [float(v) for _, v in series["values"]]
                    key = (series["metric"].get("UUID", ""), hour)
                    hourly[key][metric] = (sum(values) / len(values), max(values), len(values))
    return len(hourly), queries


def run(*, quick: bool) -> list[dict[str, Any]]:
    gpus = 100 if quick else 1_000
    now = dt.datetime.now(dt.UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=3)
    with tempfile.TemporaryDirectory(prefix="bench-prometheus-") as scratch:
        work = Path(scratch)
        print(f"backfilling {gpus:,} GPUs x 1 day into Prometheus (not timed) ...", flush=True)
        write_fleet(work / "fleet.om.txt", gpus=gpus, start=int(day.timestamp()))
        with running_prometheus(work / "fleet.om.txt", work) as url:
            engine = make_engine(f"sqlite:///{work}/warehouse.db")
            upgrade(engine)
            collector = PrometheusGpuCollector(url)
            collector.collect(engine, since=day, until=day + dt.timedelta(hours=1))  # warm-up
            started = time.perf_counter()
            result = collector.collect(engine, since=day, until=day + dt.timedelta(days=1))
            ours = time.perf_counter() - started
            started = time.perf_counter()
            baseline_rows, baseline_queries = raw_pull_baseline(url, day=day)
            theirs = time.perf_counter() - started
            engine.dispose()
    assert baseline_rows == result.rows, (baseline_rows, result.rows)
    value = round(result.rows / ours)
    baseline_value = round(baseline_rows / theirs)
    print(
        f"spendwatch: {result.rows:,} rows, {result.details['queries']} queries, {ours:.2f} s; "
        f"raw pull: {baseline_queries} queries, {theirs:.2f} s",
        flush=True,
    )
    return [
        {
            "name": "collect_prometheus_gpu_day_sqlite",
            "value": value,
            "unit": "gpu-hours/s",
            "baseline": "raw_samples_python_rollup",
            "baseline_value": baseline_value,
            "ratio": round(value / baseline_value, 2),
            "rows": result.rows,
            "queries": result.details["queries"],
            "seconds": round(ours, 2),
            "peak_rss_mb": peak_rss_mb(),
        }
    ]
