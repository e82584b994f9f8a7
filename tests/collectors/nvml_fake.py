"""A fake at the NVML boundary: the pynvml functions the agent calls, answering from data.

The data comes from the REAL nvidia-smi captures in ``shared/data/gpu/nvidia-smi-captures``:
:func:`capture_state` reads the ``query-gpu`` CSV section of a capture (what nvidia-smi printed
on that machine, idle or under load) with the csv module, independently of the code under
test. Errors are pynvml's own exception classes, so the agent's ``except`` clauses are the
real ones.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

MIB = 1024 * 1024
CAPTURES = {
    "h100": "linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt",
    "h100_mig": "linux-x86_64__nvidia-h100-mig__590.48.01.txt",
    "l40s": "linux-x86_64__nvidia-l40s__595.80.txt",
}


@dataclasses.dataclass
class FakeGpu:
    uuid: str
    name: str
    util_percent: int | None  # None: NVML says NotSupported (MIG)
    mem_used_mib: int
    mem_total_mib: int
    power_mw: int | None
    mig: bool | None  # None: not MIG-capable (NotSupported)


def capture_section(text: str, state: str) -> str:
    """The ``<state> :: query-gpu (csv ...)`` section of a capture: header line + data lines."""
    match = re.search(
        rf"# {state} :: query-gpu \(csv[^\n]*\n# \$ [^\n]*\n#+\n(.*?)\n\n", text, re.DOTALL
    )
    assert match, f"no {state} query-gpu section"
    return match.group(1) + "\n"


def capture_state(shared_data: Path, capture: str, state: str) -> dict[str, str]:
    """Column (with unit, as nvidia-smi printed it) -> value, for the capture's one GPU."""
    path = shared_data / "gpu" / "nvidia-smi-captures" / CAPTURES[capture]
    rows = list(
        csv.reader(io.StringIO(capture_section(path.read_text(), state)), skipinitialspace=True)
    )
    return dict(zip(rows[0], rows[1], strict=True))


def _int(value: str, unit: str) -> int | None:
    return None if value.startswith("[") else int(value.removesuffix(unit).strip())


def gpu_from_capture(shared_data: Path, capture: str, state: str) -> FakeGpu:
    row = capture_state(shared_data, capture, state)
    power = row["power.draw [W]"]
    mig = row["mig.mode.current"]
    return FakeGpu(
        uuid=row["uuid"],
        name=row["name"],
        util_percent=_int(row["utilization.gpu [%]"], "%"),
        mem_used_mib=_int(row["memory.used [MiB]"], "MiB") or 0,
        mem_total_mib=_int(row["memory.total [MiB]"], "MiB") or 0,
        # NVML reports milliwatts; "69.85 W" -> 69850.
        power_mw=None if power.startswith("[") else round(float(power.removesuffix("W")) * 1000),
        mig=None if mig.startswith("[") else mig == "Enabled",
    )


class FakeNvml:
    """Same function names as pynvml; ``gpus`` can be replaced between samples."""

    def __init__(self, gpus: list[FakeGpu]) -> None:
        self.gpus = gpus
        self.initialized = False

    def nvmlInit(self) -> None:
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self.initialized = False

    def nvmlDeviceGetCount(self) -> int:
        assert self.initialized, "nvmlInit was not called"
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, gpu: FakeGpu) -> str:
        return gpu.uuid

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> str:
        return gpu.name

    def nvmlDeviceGetMigMode(self, gpu: FakeGpu) -> list[int]:
        if gpu.mig is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        mode = pynvml.NVML_DEVICE_MIG_ENABLE if gpu.mig else pynvml.NVML_DEVICE_MIG_DISABLE
        return [mode, mode]

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> Any:
        if gpu.util_percent is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(gpu=gpu.util_percent, memory=0)

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> Any:
        used, total = gpu.mem_used_mib * MIB, gpu.mem_total_mib * MIB
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        if gpu.power_mw is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.power_mw
