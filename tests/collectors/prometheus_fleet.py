"""The GPU fleet backfilled into the test Prometheus: 15 s samples over 8 hours, 3 days ago.

Label names and value styles follow the real dcgm-exporter scrape in
``shared/data/gpu/dcgm-exporter-scrape/metrics.txt`` and the nvidia_gpu_exporter captures in
``shared/data/gpu/nvidia-smi-captures``. Each host is one pattern the collector must get right;
the expected hourly numbers are worked out by hand in the tests.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable

from tests.prometheus_server import SeriesSamples

STEP = 15  # seconds between scrapes: 240 samples per hour
HOURS = 8
MIB = 1024 * 1024
ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"  # a counter, mJ since the driver loaded
# Types other than gauge, for write_openmetrics.
TYPES = {ENERGY: "unknown"}


def window_start(now: dt.datetime) -> dt.datetime:
    """Midnight UTC three days ago: old enough for backfilled blocks, inside no live head."""
    midnight = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - dt.timedelta(days=3)


def const(value: float) -> Callable[[int], float]:
    return lambda _t: value


def dcgm_labels(**extra: str) -> dict[str, str]:
    labels = {"gpu": "0", "device": "nvidia0", "DCGM_FI_DRIVER_VERSION": "550.144.03"}
    labels.update(extra)
    return labels


def build_fleet(h0: int) -> dict[str, list[SeriesSamples]]:
    """Metric name -> series. ``h0`` is the window start in unix seconds."""
    fam: dict[str, list[SeriesSamples]] = defaultdict(list)
    end = h0 + HOURS * 3600

    def add(
        name: str,
        labels: dict[str, str],
        value: Callable[[int], float],
        *,
        start: int = h0,
        stop: int = end,
    ) -> None:
        fam[name].append((labels, [(t, value(t)) for t in range(start, stop, STEP)]))

    def busy(t: int) -> bool:
        return h0 + 3600 <= t < h0 + 5 * 3600

    # A: busy 01:00-05:00 only, alternating 90/100 (avg 95, max 100). One extra sample at
    # exactly 08:00:00 belongs to the 08:00 hour, which the 00:00-08:00 window excludes.
    a = dcgm_labels(
        UUID="GPU-a100-busy",
        modelName="NVIDIA A100-SXM4-40GB",
        Hostname="gpu-busy",
        instance_id="i-0busy",
        instance="10.0.0.1:9400",
        job="dcgm",
    )
    add(
        "DCGM_FI_DEV_GPU_UTIL",
        a,
        lambda t: (90 if (t // STEP) % 2 == 0 else 100) if busy(t) else 0,
        stop=end + 1,
    )
    add("DCGM_FI_DEV_FB_USED", a, lambda t: 30000 if busy(t) else 500, stop=end + 1)
    add("DCGM_FI_DEV_FB_FREE", a, lambda t: 40960 - (30000 if busy(t) else 500), stop=end + 1)
    add("DCGM_FI_DEV_POWER_USAGE", a, lambda t: 300 if busy(t) else 60, stop=end + 1)
    # A also exports the energy counter, deliberately at a steady 1000 W so the power column
    # tells which one was read: the gauge must win.
    add(ENERGY, a, lambda t: 8_000_000_000 + 1_000_000 * (t - h0), stop=end + 1)

    # B: an idle T4 found by Hostname only (like the real scrape).
    b = dcgm_labels(
        UUID="GPU-t4-idle",
        modelName="Tesla T4",
        Hostname="gpu-idle",
        instance="10.0.0.2:9400",
        job="dcgm",
    )
    add("DCGM_FI_DEV_GPU_UTIL", b, lambda t: 0)
    add("DCGM_FI_DEV_FB_USED", b, lambda t: 0)
    add("DCGM_FI_DEV_FB_FREE", b, lambda t: 15109)
    add("DCGM_FI_DEV_POWER_USAGE", b, lambda t: 8.969)

    # C: an H100 split into two MIG slices: no GPU_UTIL at all, engine-active per slice.
    for gi, profile, ratio, used, free in (
        ("1", "3g.40gb", lambda t: 0.4 if (t // STEP) % 2 == 0 else 0.6, 20000, 20192),
        ("2", "1g.10gb", lambda t: 0.0, 0, 9856),
    ):
        c = dcgm_labels(
            UUID="GPU-h100-mig",
            modelName="NVIDIA H100 80GB HBM3",
            instance_id="i-0mig",
            GPU_I_ID=gi,
            GPU_I_PROFILE=profile,
            instance="10.0.0.3:9400",
            job="dcgm",
        )
        add("DCGM_FI_PROF_GR_ENGINE_ACTIVE", c, ratio)
        add("DCGM_FI_DEV_FB_USED", c, const(used))
        add("DCGM_FI_DEV_FB_FREE", c, const(free))

    # D: the L40S trap, through nvidia_gpu_exporter: util 1.0 with 0 bytes used (real capture).
    uuid = "00000000-0000-0000-0000-000000000000"
    d = {"uuid": uuid, "instance": "gpu-l40s:9835", "job": "nvidia_gpu_exporter"}
    add("nvidia_smi_utilization_gpu_ratio", d, lambda t: 1)
    add("nvidia_smi_memory_used_bytes", d, lambda t: 0)
    add("nvidia_smi_memory_total_bytes", d, lambda t: 48305799168)
    add("nvidia_smi_power_draw_watts", d, lambda t: 144.97)
    info = {**d, "index": "0", "name": "NVIDIA L40S", "driver_version": "595.80"}
    add("nvidia_smi_gpu_info", info, lambda t: 1)

    # E: an instance terminated at 03:30: 3 full hours, half of hour 3, then nothing.
    e = dcgm_labels(
        UUID="GPU-a10g-term",
        modelName="NVIDIA A10G",
        instance_id="i-0term",
        instance="10.0.0.5:9400",
        job="dcgm",
    )
    stop = h0 + 3 * 3600 + 1800
    add("DCGM_FI_DEV_GPU_UTIL", e, lambda t: 70, stop=stop)
    add("DCGM_FI_DEV_FB_USED", e, lambda t: 1000, stop=stop)
    add("DCGM_FI_DEV_FB_FREE", e, lambda t: 22000, stop=stop)
    add("DCGM_FI_DEV_POWER_USAGE", e, lambda t: 150, stop=stop)

    # F: one host, two exporters (dcgm and nvidia_smi), and dcgm scraped by two jobs.
    for job in ("dcgm", "dcgm-servicemonitor"):
        f = dcgm_labels(
            UUID="GPU-both",
            modelName="NVIDIA A10G",
            instance_id="i-0both",
            instance="10.0.0.6:9400",
            job=job,
        )
        add("DCGM_FI_DEV_GPU_UTIL", f, lambda t: 40)
        add("DCGM_FI_DEV_FB_USED", f, lambda t: 2000)
        add("DCGM_FI_DEV_FB_FREE", f, lambda t: 21000)
    g = {
        "uuid": "GPU-both",
        "instance_id": "i-0both",
        "instance": "10.0.0.6:9835",
        "job": "nvidia_gpu_exporter",
    }
    add("nvidia_smi_utilization_gpu_ratio", g, lambda t: 0.4)
    add("nvidia_smi_memory_used_bytes", g, lambda t: 2000 * MIB)

    # G: a Kubernetes GPU whose pod changes at 02:20 (dcgm-exporter's pod mapper labels).
    switch = h0 + 2 * 3600 + 1200
    for pod, util, start, stop in (("train-a", 30, h0, switch), ("train-b", 60, switch, end)):
        k = dcgm_labels(
            UUID="GPU-a10g-pod",
            modelName="NVIDIA A10G",
            Hostname="ip-10-0-0-7",
            instance_id="i-0pod",
            namespace="ml",
            pod=pod,
            container="trainer",
            instance="10.0.0.7:9400",
            job="dcgm",
        )
        add("DCGM_FI_DEV_GPU_UTIL", k, const(util), start=start, stop=stop)
        add("DCGM_FI_DEV_FB_USED", k, lambda t: 1000, start=start, stop=stop)
        add("DCGM_FI_DEV_FB_FREE", k, lambda t: 22000, start=start, stop=stop)

    # I: no power gauge, only the energy counter (mJ): 300 W until 02:00, then 200 W, and the
    # driver reloads at 02:30, so the sample at 02:30:00 reads 0 and counting starts again.
    i = dcgm_labels(
        UUID="GPU-a10g-energy",
        modelName="NVIDIA A10G",
        instance_id="i-0energy",
        instance="10.0.0.10:9400",
        job="dcgm",
    )
    low, reset = h0 + 2 * 3600, h0 + 2 * 3600 + 1800

    def energy_mj(t: int) -> int:
        if t >= reset:
            return 200_000 * (t - reset)
        if t >= low:
            return 5_000_000_000 + 300_000 * (low - h0) + 200_000 * (t - low)
        return 5_000_000_000 + 300_000 * (t - h0)

    add("DCGM_FI_DEV_GPU_UTIL", i, const(80))
    add("DCGM_FI_DEV_FB_USED", i, const(4000))
    add("DCGM_FI_DEV_FB_FREE", i, const(19000))
    add(ENERGY, i, energy_mj)

    # J: the exporter restarts at 04:30 and scrapes again from 04:35: a 5-minute gap in every
    # series. Util 50 before the restart, 28 after. No power gauge; the energy counter keeps
    # counting through the gap at 250 W (a restart of the exporter does not reload the driver).
    j = dcgm_labels(
        UUID="GPU-a10g-restart",
        modelName="NVIDIA A10G",
        instance_id="i-0restart",
        instance="10.0.0.11:9400",
        job="dcgm",
    )
    down, up = h0 + 4 * 3600 + 1800, h0 + 4 * 3600 + 2100
    for start, stop in ((h0, down), (up, end)):
        add("DCGM_FI_DEV_GPU_UTIL", j, lambda t: 50 if t < down else 28, start=start, stop=stop)
        add("DCGM_FI_DEV_FB_USED", j, const(1000), start=start, stop=stop)
        add("DCGM_FI_DEV_FB_FREE", j, const(22000), start=start, stop=stop)
        add(ENERGY, j, lambda t: 9_000_000_000 + 250_000 * (t - h0), start=start, stop=stop)

    # H: samples with no GPU labels, as in the real scrape: one bare, one with only the target.
    add("DCGM_FI_PROF_GR_ENGINE_ACTIVE", {}, lambda t: 0)
    add("DCGM_FI_DEV_GPU_UTIL", {"instance": "10.0.0.9:9400", "job": "dcgm"}, lambda t: 0)
    return dict(fam)
