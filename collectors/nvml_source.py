"""The NVML boundary: the few ``pynvml`` calls the agent makes, and their errors translated.

The agent takes the NVML module as an argument. In production that is ``pynvml`` itself (the
``nvidia-ml-py`` package); a test passes any object with the same function names, fed from real
``nvidia-smi`` captures. Only these functions are called::

    nvmlInit, nvmlShutdown, nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex,
    nvmlDeviceGetUUID, nvmlDeviceGetName, nvmlDeviceGetMigMode,
    nvmlDeviceGetUtilizationRates, nvmlDeviceGetMemoryInfo, nvmlDeviceGetPowerUsage

Under MIG the parent GPU reports no utilization (``NVMLError_NotSupported``): the reading says
``None``, which rolls up to a NULL ``util_avg``, never to 0 %. A GPU that is not MIG-capable
raises NotSupported for the MIG mode too, which simply means "not MIG".
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from typing import Any

import pynvml

from warehouse.errors import SourceError

NO_DRIVER = (
    "no NVIDIA driver on this host (NVML library not found); run the agent on a GPU host "
    "with the NVIDIA driver installed"
)


@dataclasses.dataclass(frozen=True, slots=True)
class GpuReading:
    index: int
    uuid: str
    name: str
    util_percent: float | None  # None under MIG
    mem_used_bytes: int
    mem_free_bytes: int
    mem_total_bytes: int
    power_watts: float | None
    mig_enabled: bool
    at: dt.datetime


def _text(value: Any) -> str:
    # Old bindings return bytes, nvidia-ml-py 12+ returns str.
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlSession:
    """``nvmlInit`` on enter, ``nvmlShutdown`` on exit; :meth:`read` samples every GPU."""

    def __init__(self, nvml: Any = pynvml) -> None:
        self.nvml = nvml

    def __enter__(self) -> NvmlSession:
        try:
            self.nvml.nvmlInit()
        except (pynvml.NVMLError_LibraryNotFound, pynvml.NVMLError_DriverNotLoaded):
            raise SourceError(NO_DRIVER) from None
        except pynvml.NVMLError as exc:
            raise SourceError(f"NVML could not start: {exc}; check the NVIDIA driver") from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(pynvml.NVMLError):  # shutting down anyway
            self.nvml.nvmlShutdown()

    def read(self, *, now: dt.datetime) -> list[GpuReading]:
        """One reading per GPU. A GPU that fails mid-read is left out, not reported as idle."""
        try:
            count = int(self.nvml.nvmlDeviceGetCount())
        except pynvml.NVMLError as exc:
            raise SourceError(f"NVML could not count GPUs: {exc}") from None
        readings = []
        for index in range(count):
            try:
                readings.append(self._read_one(index, now=now))
            except pynvml.NVMLError:
                continue  # e.g. GPU lost from the bus (Xid 79): a gap, not a zero
        return readings

    def _optional(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except pynvml.NVMLError_NotSupported:
            return None

    def _read_one(self, index: int, *, now: dt.datetime) -> GpuReading:
        nvml = self.nvml
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        mig_mode = self._optional(nvml.nvmlDeviceGetMigMode, handle)
        mig = bool(mig_mode) and mig_mode[0] == pynvml.NVML_DEVICE_MIG_ENABLE
        rates = self._optional(nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        milliwatts = self._optional(nvml.nvmlDeviceGetPowerUsage, handle)
        return GpuReading(
            index=index,
            uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
            name=_text(nvml.nvmlDeviceGetName(handle)),
            util_percent=None if rates is None or mig else float(rates.gpu),
            mem_used_bytes=int(memory.used),
            mem_free_bytes=int(memory.free),
            mem_total_bytes=int(memory.total),
            power_watts=None if milliwatts is None else milliwatts / 1000,
            mig_enabled=mig,
            at=now,
        )
