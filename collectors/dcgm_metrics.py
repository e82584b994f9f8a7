"""Which exporter metrics feed which ``gpu_hourly`` columns, declared as data.

Two exporters are understood, each written to ``gpu_hourly`` under its own ``source`` so a host
running both is never double counted:

* NVIDIA dcgm-exporter (``source="dcgm"``): labels ``gpu``, ``UUID``, ``modelName``,
  ``Hostname``; under MIG also ``GPU_I_ID`` and ``GPU_I_PROFILE``; with the Kubernetes pod
  mapper also ``namespace``, ``pod`` and ``container``. Memory is in MiB. Under MIG there is
  no ``DCGM_FI_DEV_GPU_UTIL`` at all, only the profiling ratio ``DCGM_FI_PROF_GR_ENGINE_ACTIVE``.
  Power is the gauge ``DCGM_FI_DEV_POWER_USAGE`` (W); counter configs that drop it may still
  export ``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION``, a counter in mJ since the driver loaded,
  which goes back to ~0 when the driver reloads.
* utkuozdemir/nvidia_gpu_exporter (``source="nvidia_smi_exporter"``): metrics carry only
  ``uuid``; the model name is on the separate ``nvidia_smi_gpu_info`` series. Utilization is a
  0-1 ratio and memory is already in bytes.
"""

from __future__ import annotations

import csv
import dataclasses
import io

MIB = 1024 * 1024
K8S_LABELS: tuple[str, ...] = ("namespace", "pod", "container")


@dataclasses.dataclass(frozen=True, slots=True)
class ExporterMetrics:
    source: str  # gpu_hourly.source
    gpu_labels: tuple[str, ...]  # the GPU id: the first non-empty label wins
    util: str | None
    util_to_percent: float
    mem_used: str
    mem_to_bytes: int
    power: str | None
    engine_active: str | None = None  # 0-1 ratio
    energy: str | None = None  # a counter; read only for GPUs without the power gauge
    energy_to_joules: float = 1.0
    mem_free: str | None = None  # total = used + free when there is no total metric
    mem_total: str | None = None
    model_label: str | None = None  # on the metric series themselves
    mig_instance_label: str | None = None  # part of the GPU id: MIG slices of one GPU
    mig_profile_label: str | None = None
    info_metric: str | None = None  # a separate series carrying the model name
    info_model_label: str | None = None

    @property
    def counted(self) -> tuple[tuple[str, str], ...]:
        """(column, metric) whose sample counts are read; sample_count is the first present."""
        pairs = (("util", self.util), ("engine_active", self.engine_active), ("mem", self.mem_used))
        return tuple((column, metric) for column, metric in pairs if metric)

    @property
    def detail_labels(self) -> tuple[str, ...]:
        """Labels kept on count queries: model, MIG profile and the Kubernetes owner."""
        extra = (self.model_label, self.mig_profile_label)
        return (*(label for label in extra if label), *K8S_LABELS)


DCGM = ExporterMetrics(
    source="dcgm",
    gpu_labels=("UUID", "gpu"),
    util="DCGM_FI_DEV_GPU_UTIL",
    util_to_percent=1.0,
    engine_active="DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    mem_used="DCGM_FI_DEV_FB_USED",
    mem_free="DCGM_FI_DEV_FB_FREE",
    mem_to_bytes=MIB,
    power="DCGM_FI_DEV_POWER_USAGE",
    energy="DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    energy_to_joules=0.001,  # mJ
    model_label="modelName",
    mig_instance_label="GPU_I_ID",
    mig_profile_label="GPU_I_PROFILE",
)

NVIDIA_SMI_EXPORTER = ExporterMetrics(
    source="nvidia_smi_exporter",
    gpu_labels=("uuid",),
    util="nvidia_smi_utilization_gpu_ratio",
    util_to_percent=100.0,
    mem_used="nvidia_smi_memory_used_bytes",
    mem_total="nvidia_smi_memory_total_bytes",
    mem_to_bytes=1,
    power="nvidia_smi_power_draw_watts",
    info_metric="nvidia_smi_gpu_info",
    info_model_label="name",
)

EXPORTERS: tuple[ExporterMetrics, ...] = (DCGM, NVIDIA_SMI_EXPORTER)


def dcgm_counters(csv_text: str) -> dict[str, str]:
    """Metric name -> Prometheus type from a dcgm-exporter counters CSV (``-f counters.csv``).

    The upstream default file writes ``DCGM_FI_DEV_DEC_UTIL ,`` with a space before the comma,
    so every field is stripped; comment and blank lines are skipped.
    """
    counters: dict[str, str] = {}
    for row in csv.reader(io.StringIO(csv_text)):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        name = row[0].strip()
        counters[name] = row[1].strip() if len(row) > 1 else ""
    return counters


def missing_dcgm_counters(csv_text: str) -> list[str]:
    """The metrics this collector reads that a counters CSV does not enable."""
    enabled = dcgm_counters(csv_text)
    # The energy counter stands in for the power gauge (power is derived from its increase).
    power = DCGM.energy if DCGM.energy in enabled else DCGM.power
    wanted = [DCGM.util, DCGM.mem_used, DCGM.mem_free, power, DCGM.engine_active]
    return [name for name in wanted if name and name not in enabled]
