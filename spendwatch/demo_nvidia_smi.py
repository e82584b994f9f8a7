"""The demo fleet's GPU telemetry as the hosts themselves would log it, loaded the way an
operator loads such logs: ``spendwatch ingest nvidia-smi LOG --resource-id ID`` per host.

Each host wrote ``nvidia-smi --query-gpu=<NVIDIA_SMI_QUERY> --format=csv -l 900``: one line per
GPU every 15 minutes, in UTC (cloud GPU images run on UTC), so each ``gpu_hourly`` row it rolls
up to has ``sample_count`` = :data:`SAMPLES_PER_HOUR` and source ``nvml``. Only the folder it is
given is written to.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from collectors.nvidia_smi_files import ingest_nvidia_smi_file
from spendwatch.demo_fleet import Host, hours
from spendwatch.demo_shapes import GIB, MIB
from spendwatch.demo_telemetry import gpu_utilization, memory_used, power_draw
from warehouse.db import make_engine

NVIDIA_SMI_QUERY = "timestamp,index,uuid,name,utilization.gpu,memory.used,memory.total,power.draw"
NVIDIA_SMI_HEADER = (
    "timestamp, index, uuid, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], "
    "power.draw [W]"
)
SAMPLE_MINUTES = 15
SAMPLES_PER_HOUR = 60 // SAMPLE_MINUTES


@dataclasses.dataclass(frozen=True, slots=True)
class TelemetryLoad:
    files: int
    samples: int
    rows: int  # gpu_hourly rows written


def gpu_uuids(host: Host, *, seed: int = 7) -> list[str]:
    """The host's GPU UUIDs as nvidia-smi prints them (``GPU-`` + a version-4 UUID)."""
    rng = random.Random(f"{seed}:uuid:{host.resource_id}")
    return [
        f"GPU-{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(host.shape.gpu_count)
    ]


def nvidia_smi_log(
    host: Host, *, as_of: dt.datetime, days: int = 30, seed: int = 7
) -> Iterator[str]:
    """The host's log lines: the header, then one line per GPU every :data:`SAMPLE_MINUTES`
    minutes while the host runs (nothing after it was terminated)."""
    rng = random.Random(f"{seed}:samples:{host.resource_id}")  # per host: files independent
    shape = host.shape
    total = shape.gpu_memory_gib * GIB
    uuids = gpu_uuids(host, seed=seed)
    window = hours(as_of=as_of, days=days)
    yield NVIDIA_SMI_HEADER
    for position, hour in enumerate(window):
        hours_left = len(window) - position
        if not host.runs_in(hours_left):
            continue
        for step in range(SAMPLES_PER_HOUR):
            stamp = (hour + dt.timedelta(minutes=step * SAMPLE_MINUTES)).strftime(
                "%Y/%m/%d %H:%M:%S.000"
            )
            for gpu in range(shape.gpu_count):
                util = gpu_utilization(host, gpu, hour, hours_left, rng)
                shown = "[N/A]" if util is None else f"{util:.0f} %"
                used = memory_used(host, util, total) // MIB
                yield (
                    f"{stamp}, {gpu}, {uuids[gpu]}, {shape.gpu_model}, {shown}, {used} MiB, "
                    f"{total // MIB} MiB, {power_draw(host, util):.2f} W"
                )


def write_log(
    folder: Path, host: Host, *, as_of: dt.datetime, days: int = 30, seed: int = 7
) -> Path:
    """``<folder>/<host name>.csv``: the host's log."""
    path = folder / f"{host.name}.csv"
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for line in nvidia_smi_log(host, as_of=as_of, days=days, seed=seed):
            handle.write(line + "\n")
    return path


def load_fleet_telemetry(
    database_url: str,
    folder: Path,
    hosts: Sequence[Host],
    *,
    as_of: dt.datetime,
    days: int,
    seed: int,
    workers: int = 1,
) -> TelemetryLoad:
    """Write each host's log into ``folder`` (older logs there are removed first) and load it
    with the host's instance id as resource id, through ``spendwatch ingest nvidia-smi``'s
    function.

    Writing and parsing are nearly all of the time, so ``workers`` > 1 does them in that many
    processes; each log is still loaded in its own transaction, and SQLite's WAL lets the
    processes take turns writing.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.csv"):
        stale.unlink()
    jobs = [(database_url, folder, host, as_of, days, seed) for host in hosts]
    if workers <= 1:
        results = [_write_and_ingest(*job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = [
                future.result() for future in [pool.submit(_write_and_ingest, *job) for job in jobs]
            ]
    return TelemetryLoad(
        files=len(results),
        samples=sum(samples for samples, _ in results),
        rows=sum(rows for _, rows in results),
    )


def _write_and_ingest(
    database_url: str, folder: Path, host: Host, as_of: dt.datetime, days: int, seed: int
) -> tuple[int, int]:
    path = write_log(folder, host, as_of=as_of, days=days, seed=seed)
    engine = make_engine(database_url)
    try:
        result = ingest_nvidia_smi_file(engine, path, resource_id=host.resource_id)
    finally:
        engine.dispose()
    return result.samples, result.rows
