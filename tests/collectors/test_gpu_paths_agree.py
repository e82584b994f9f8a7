"""One set of per-minute samples, three paths, the same hourly rollups.

The samples are built once. They are published to CloudWatch (moto server) the way the
CloudWatch agent publishes them, fed to the NVML agent through the NVML fake, and written as an
``nvidia-smi --query-gpu ... -l 60`` CSV log for ``ingest nvidia-smi``. Every path must give the
same utilization, memory, power and sample count for every GPU and hour.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from collectors.cloudwatch_gpu import CloudWatchGpuCollector
from collectors.nvidia_smi_files import ingest_nvidia_smi_file
from collectors.nvml_agent import NvmlAgent
from collectors.nvml_source import NvmlSession
from tests.collectors.cloudwatch_agent_data import (
    MinuteSample,
    agent_dimensions,
    cloudwatch_client,
    publish,
)
from tests.collectors.nvml_fake import FakeGpu, FakeNvml
from warehouse.load_gpu import gpu_hourly_rows

H0 = dt.datetime(2026, 11, 18, 6, 0, tzinfo=dt.UTC)
MINUTES = 150  # 06:00, 07:00 and half of 08:00
INSTANCE = "i-0agree"
COMPARED = (
    "hour",
    "util_avg",
    "util_max",
    "mem_used_avg_bytes",
    "mem_used_max_bytes",
    "mem_total_bytes",
    "power_avg_watts",
    "sample_count",
)


@dataclasses.dataclass(frozen=True)
class Gpu:
    index: str
    uuid: str
    name: str
    mig: bool
    samples: list[MinuteSample]


def build_gpus() -> list[Gpu]:
    def busy(m: int) -> MinuteSample:  # a training job with uneven load and memory
        return MinuteSample(
            at=H0 + dt.timedelta(minutes=m),
            util_percent=(m * 37) % 101,
            mem_used_mib=1000 + (m * 53) % 7000,
            mem_total_mib=23028,
            power_watts=60 + (m % 13) * 10.5,
        )

    def mig(m: int) -> MinuteSample:  # MIG: no utilization at all
        return MinuteSample(H0 + dt.timedelta(minutes=m), None, 59 + (m % 4) * 1000, 81559, 71.15)

    return [
        Gpu("0", "GPU-a10g-0", "NVIDIA A10G", False, [busy(m) for m in range(MINUTES)]),
        Gpu("1", "GPU-h100-mig", "NVIDIA H100 80GB HBM3", True, [mig(m) for m in range(MINUTES)]),
    ]


def _fake_gpu(gpu: Gpu, sample: MinuteSample) -> FakeGpu:
    return FakeGpu(
        uuid=gpu.uuid,
        name=gpu.name,
        util_percent=sample.util_percent,
        mem_used_mib=sample.mem_used_mib,
        mem_total_mib=sample.mem_total_mib,
        power_mw=None if sample.power_watts is None else round(sample.power_watts * 1000),
        mig=gpu.mig,
    )


def _by_index(rows: list[dict[str, Any]], uuid_to_index: dict[str, str]) -> list[tuple[Any, ...]]:
    keyed = [
        (row["resource_id"], uuid_to_index.get(row["gpu_id"], row["gpu_id"]), row) for row in rows
    ]
    return sorted(
        (resource, index, *(row[name] for name in COMPARED)) for resource, index, row in keyed
    )


def _csv_log(gpus: list[Gpu], path: Path) -> Path:
    header = (
        "timestamp, index, uuid, name, utilization.gpu [%], memory.used [MiB], "
        "memory.total [MiB], power.draw [W]"
    )
    lines = [header]
    for m in range(MINUTES):
        for gpu in gpus:
            s = gpu.samples[m]
            util = "[N/A]" if s.util_percent is None else f"{s.util_percent} %"
            lines.append(
                f"{s.at:%Y/%m/%d %H:%M:%S}.000, {gpu.index}, {gpu.uuid}, {gpu.name}, {util}, "
                f"{s.mem_used_mib} MiB, {s.mem_total_mib} MiB, {s.power_watts:.2f} W"
            )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cloudwatch_nvml_and_nvidia_smi_agree(engine: Engine, aws_env: str, tmp_path: Path) -> None:
    gpus = build_gpus()
    uuid_to_index = {gpu.uuid: gpu.index for gpu in gpus}

    # Path 1: the CloudWatch agent publishes, the collector reads back hourly statistics.
    cloudwatch = cloudwatch_client()
    for gpu in gpus:
        dims = agent_dimensions(index=gpu.index, name=gpu.name, host="ip-10-0-0-9",
                                instance_id=INSTANCE)  # fmt: skip
        publish(cloudwatch, dims, gpu.samples)
    end = H0 + dt.timedelta(hours=3)
    CloudWatchGpuCollector(cloudwatch).collect(engine, since=H0, until=end)

    # Path 2: the NVML agent samples the same readings once a minute; stopping writes 08:00.
    fake = FakeNvml([])
    with NvmlSession(fake) as session:
        agent = NvmlAgent(session, resource_id=INSTANCE, engine=engine)
        for m in range(MINUTES):
            fake.gpus = [_fake_gpu(gpu, gpu.samples[m]) for gpu in gpus]
            agent.sample(now=H0 + dt.timedelta(minutes=m))
        agent.flush()

    with engine.connect() as connection:
        from_cloudwatch = _by_index(gpu_hourly_rows(connection, source="cloudwatch"), {})
        from_nvml = _by_index(gpu_hourly_rows(connection, source="nvml"), uuid_to_index)
    assert len(from_cloudwatch) == 6  # 2 GPUs x (06:00, 07:00, half of 08:00)
    assert from_nvml == from_cloudwatch

    # Path 3: the same readings as an nvidia-smi CSV log replace the nvml rows with equal ones.
    result = ingest_nvidia_smi_file(engine, _csv_log(gpus, tmp_path / "smi.csv"),
                                    resource_id=INSTANCE)  # fmt: skip
    assert (result.samples, result.rows) == (2 * MINUTES, 6)
    with engine.connect() as connection:
        from_file = _by_index(gpu_hourly_rows(connection, source="nvml"), uuid_to_index)
    assert from_file == from_cloudwatch

    # The numbers themselves, for 06:00 of the busy GPU, worked out from the generator:
    # utilization (m * 37) % 101 over m = 0..59 is 60 distinct residues.
    utils = [(m * 37) % 101 for m in range(60)]
    first = from_cloudwatch[0]
    assert first[:3] == (INSTANCE, "0", H0)
    assert first[3:5] == (sum(utils) / 60, max(utils))
    assert first[-1] == 60
    # MIG GPU, 08:00: NULL utilization, 30 samples counted from memory.
    assert from_cloudwatch[-1][:5] == (INSTANCE, "1", H0 + dt.timedelta(hours=2), None, None)
    assert from_cloudwatch[-1][-1] == 30
