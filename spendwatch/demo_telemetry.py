"""The demo fleet's GPU telemetry: what each host's GPUs read hour by hour given its behaviour,
and the ready-made ``gpu_hourly`` rows tests load without going through nvidia-smi logs."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from spendwatch.demo_fleet import Host, hours
from spendwatch.demo_shapes import GIB


def gpu_utilization(
    host: Host, gpu: int, hour: dt.datetime, hours_left: int, rng: random.Random
) -> float | None:
    """One reading of one GPU; None where nvidia-smi prints [N/A] (MIG)."""
    if host.pattern == "busy":
        return round(rng.uniform(62, 98), 1)
    if host.pattern == "nightly":
        return round(rng.uniform(85, 99), 1) if 1 <= hour.hour < 5 else 0.0
    if host.pattern == "underused":
        return round(rng.uniform(55, 95), 1) if gpu < 2 else 0.0
    if host.pattern == "phantom":
        return 100.0
    if host.pattern == "mig":
        return None
    # idle, stopped, reclaimed: real work until it stopped, then nothing (until it resumed)
    working = hours_left > host.idle_since_hours or hours_left <= host.resumed_hours
    return round(rng.uniform(40, 90), 1) if working else 0.0


def memory_used(host: Host, util: float | None, total: int) -> int:
    """Bytes held: with work, a share of the card; idle, none (no CUDA context); the phantom
    L40S holds none while claiming 100 %; the MIG slices hold about half."""
    if host.pattern == "mig":
        return total // 2
    if host.pattern == "phantom" or not util:
        return 0
    return int(total * (0.6 + util / 300))


def gpu_hourly_rows(
    hosts: list[Host], *, as_of: dt.datetime, days: int = 30, seed: int = 7
) -> Iterator[dict[str, Any]]:
    """One row per GPU per hour, shaped like the ``gpu_hourly`` table (source ``dcgm``).

    The demo itself loads telemetry as the logs of :func:`spendwatch.demo_nvidia_smi.nvidia_smi_log`
    through the nvidia-smi ingest; these ready-made rows are for tests that need a warehouse
    without that path.
    """
    rng = random.Random(seed)
    window = hours(as_of=as_of, days=days)
    for host in hosts:
        shape = host.shape
        total = shape.gpu_memory_gib * GIB
        for gpu in range(shape.gpu_count):
            for position, hour in enumerate(window):
                if not host.runs_in(len(window) - position):
                    continue
                util = gpu_utilization(host, gpu, hour, len(window) - position, rng)
                used = memory_used(host, util, total)
                yield {
                    "source": "dcgm",
                    "provider": shape.provider,
                    "resource_id": host.resource_id,
                    "gpu_id": str(gpu),
                    "hour": hour,
                    "gpu_model": shape.gpu_model,
                    "mig_profile": None,
                    "util_avg": util,
                    "util_max": None if util is None else min(100.0, round(util * 1.08, 1)),
                    "engine_active_avg": None,
                    "engine_active_max": None,
                    "mem_used_avg_bytes": used,
                    "mem_used_max_bytes": used,
                    "mem_total_bytes": total,
                    "power_avg_watts": power_draw(host, util),
                    "sample_count": 60,  # one scrape a minute
                    "labels": None,
                }


def power_draw(host: Host, util: float | None) -> float:
    if host.pattern == "mig":
        return 180.0
    if host.pattern == "phantom":
        return 35.0  # the board draws idle power while the counter says 100 %
    return round(60 + 3.5 * (util or 0.0), 1)
