"""Raw GPU samples -> ``gpu_hourly`` rows: the one rollup for telemetry read on the host.

The NVML agent and ``spendwatch ingest nvidia-smi`` both see individual samples (Prometheus and
CloudWatch hand us samples already rolled up server-side), and both use :func:`hourly_rollup`.
It follows the conventions of the Prometheus path (``collectors/prometheus_gpu.py``):

* ``hour`` is the START of the hour a sample falls in, half-open: a sample stamped 02:00:00
  belongs to the 02:00 hour;
* utilization and engine-active are percent 0-100, memory is bytes, power is watts;
* ``sample_count`` counts the samples of the first metric the GPU reports: utilization, else
  engine-active (MIG reports no utilization), else memory;
* a metric the GPU never reported in the hour (MIG utilization) is NULL, never 0.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from collectors.base import floor_hour


@dataclasses.dataclass(frozen=True, slots=True)
class GpuSample:
    """One reading of one GPU. ``None`` means the GPU did not report that metric."""

    resource_id: str
    gpu_id: str
    at: dt.datetime  # aware UTC
    util_percent: float | None
    mem_used_bytes: int | None
    mem_total_bytes: int | None = None
    power_watts: float | None = None
    engine_active_percent: float | None = None
    gpu_model: str | None = None
    mig_profile: str | None = None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _mean_bytes(values: list[int]) -> int | None:
    return round(sum(values) / len(values)) if values else None


def hourly_rollup(
    samples: Iterable[GpuSample], *, source: str, provider: str | None = None
) -> list[dict[str, Any]]:
    """One ``gpu_hourly`` row per (resource, GPU, hour), ordered by that key."""
    groups: dict[tuple[str, str, dt.datetime], list[GpuSample]] = defaultdict(list)
    for sample in samples:
        if sample.at.tzinfo is None:
            raise ValueError(f"sample of {sample.gpu_id} at {sample.at} has no time zone")
        groups[(sample.resource_id, sample.gpu_id, floor_hour(sample.at))].append(sample)
    rows = []
    for (resource_id, gpu_id, hour), group in sorted(groups.items()):
        group.sort(key=lambda sample: sample.at)
        util = [s.util_percent for s in group if s.util_percent is not None]
        engine = [s.engine_active_percent for s in group if s.engine_active_percent is not None]
        used = [s.mem_used_bytes for s in group if s.mem_used_bytes is not None]
        total = [s.mem_total_bytes for s in group if s.mem_total_bytes is not None]
        power = [s.power_watts for s in group if s.power_watts is not None]
        count = len(util) or len(engine) or len(used)
        if count == 0:
            continue  # nothing measurable this hour (every reading failed)
        models = [s.gpu_model for s in group if s.gpu_model]
        profiles = [s.mig_profile for s in group if s.mig_profile]
        rows.append(
            {
                "source": source,
                "provider": provider,
                "resource_id": resource_id,
                "gpu_id": gpu_id,
                "hour": hour,
                "gpu_model": models[-1] if models else None,
                "mig_profile": profiles[-1] if profiles else None,
                "util_avg": _mean(util),
                "util_max": max(util) if util else None,
                "engine_active_avg": _mean(engine),
                "engine_active_max": max(engine) if engine else None,
                "mem_used_avg_bytes": _mean_bytes(used),
                "mem_used_max_bytes": max(used) if used else None,
                "mem_total_bytes": max(total) if total else None,
                "power_avg_watts": _mean(power),
                "sample_count": count,
                "labels": None,
            }
        )
    return rows
