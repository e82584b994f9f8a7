"""GPUs attached to Compute Engine N1 VMs, for the rules that price or resize them.

Google bills an N1 VM with attached GPUs as its machine type plus count x the per-GPU price of
the model in its region (see :mod:`warehouse.queries.catalog`), and lets only some counts of a
model be attached, each up to a number of vCPUs and GB of memory on the VM.
:data:`N1_GPU_LIMITS` is that table; :func:`attachable_counts` applies it to one machine type;
:func:`attached_gpu_quote` and :func:`summed_spot_points` put machine and GPUs together into
one hourly price, on demand and spot.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from analytics.findings import utc
from warehouse.queries.catalog import gpu_sku, joined_source

# HAND-MADE from Google's N1 GPU table (cloud.google.com/compute/docs/gpus, "N1 machine
# series"), as SkyPilot's GCP catalog transcribes it (no copy of the page is stored here):
# model -> {GPUs per VM: (most vCPUs, most GB of memory) the VM may then have}. T4, P4 and P100
# come 1, 2 or 4 to a VM; V100 and K80 also 8. Google notes zone exceptions (K80 8 GPUs, P100
# 4 GPUs in a few zones) that are left out here.
N1_GPU_LIMITS: dict[str, dict[int, tuple[int, int]]] = {
    "T4": {1: (48, 312), 2: (48, 312), 4: (96, 624)},
    "P4": {1: (24, 156), 2: (48, 312), 4: (96, 624)},
    "P100": {1: (16, 104), 2: (32, 208), 4: (96, 624)},
    "V100": {1: (12, 78), 2: (24, 156), 4: (48, 312), 8: (96, 624)},
    "K80": {1: (8, 52), 2: (16, 104), 4: (32, 208), 8: (64, 208)},
}
# GB of memory per vCPU of the predefined N1 machine types (n1-standard-16 = 16 vCPUs, 60 GB).
N1_MEMORY_PER_VCPU = {
    "standard": Decimal("3.75"),
    "highmem": Decimal("6.5"),
    "highcpu": Decimal("0.9"),
}
_PREDEFINED = re.compile(r"n1-(standard|highmem|highcpu)-(\d+)")
_CUSTOM = re.compile(r"n1-custom-(\d+)-(\d+)(?:-ext)?")  # vCPUs, memory in MiB


def n1_shape(machine_type: str) -> tuple[int, Decimal] | None:
    """(vCPUs, GB of memory) of an N1 machine type, read off its name; None when the name is
    not one of the predefined or custom N1 forms."""
    predefined = _PREDEFINED.fullmatch(machine_type)
    if predefined:
        vcpus = int(predefined.group(2))
        return vcpus, vcpus * N1_MEMORY_PER_VCPU[predefined.group(1)]
    custom = _CUSTOM.fullmatch(machine_type)
    if custom:
        return int(custom.group(1)), Decimal(custom.group(2)) / 1024
    return None


def attachable_counts(gpu_model: str, machine_type: str) -> list[int]:
    """The GPU counts of ``gpu_model`` that Google lets this N1 machine type have, fewest first
    (empty when the model or the machine type's shape is unknown)."""
    shape = n1_shape(machine_type)
    limits = N1_GPU_LIMITS.get(gpu_model)
    if shape is None or limits is None:
        return []
    vcpus, memory_gb = shape
    return sorted(
        count
        for count, (max_vcpus, max_memory_gb) in limits.items()
        if vcpus <= max_vcpus and memory_gb <= max_memory_gb
    )


def attached_gpu_quote(
    parts: Mapping[tuple[str, str, str], Mapping[str, Any]],
    *,
    provider: str,
    region: str,
    machine_type: str,
    gpu_model: str,
    gpu_count: int,
) -> dict[str, Any] | None:
    """The hourly price of ``machine_type`` with ``gpu_count`` GPUs of ``gpu_model`` attached, in
    the shape of a :func:`warehouse.queries.spend.gpu_type_catalog` row plus ``gpu_price`` (one
    GPU) and ``priced_as``; None when either part has no price in that currency.

    ``parts`` maps (provider, region, sku) to rows of
    :func:`warehouse.queries.resource_prices.attached_gpu_part_prices`.
    """
    machine = parts.get((provider, region, machine_type))
    gpu = parts.get((provider, region, gpu_sku(gpu_model)))
    if machine is None or gpu is None or machine["currency"] != gpu["currency"]:
        return None
    return {
        "provider": provider,
        "region": region,
        "instance_type": machine_type,
        "gpu_count": gpu_count,
        "gpu_model": gpu_model,
        "gpu_memory_bytes": None,  # unchanged by the count: the same model stays attached
        "price": machine["price"] + gpu_count * gpu["price"],
        "gpu_price": gpu["price"],
        "currency": machine["currency"],
        "effective_at": max(utc(machine["effective_at"]), utc(gpu["effective_at"])),
        "price_source": joined_source(str(machine["price_source"]), str(gpu["price_source"])),
        "priced_as": f"{machine_type} + {gpu_count} x {gpu_sku(gpu_model)}",
    }


def summed_spot_points(
    machine: Iterable[Mapping[str, Any]], gpu: Iterable[Mapping[str, Any]], *, gpu_count: int
) -> list[dict[str, Any]]:
    """Spot price points of a machine type with ``gpu_count`` GPUs attached: one at each moment
    either part's spot price changed, once both are known, each part at the price in force then.

    So a p90 over these points weighs the sum the way the spot rule weighs a machine type's own
    price points. Two points of one part at the same moment (two sources) count the dearer one.
    """
    machine_points, gpu_points = _by_time(machine), _by_time(gpu)
    out = []
    for moment in sorted({*(t for t, _ in machine_points), *(t for t, _ in gpu_points)}):
        m, g = _in_force(machine_points, moment), _in_force(gpu_points, moment)
        if m is None or g is None or m["currency"] != g["currency"]:
            continue
        out.append(
            {
                "price": m["price"] + gpu_count * g["price"],
                "currency": m["currency"],
                "effective_at": moment,
                "source": joined_source(str(m["source"]), str(g["source"])),
            }
        )
    return out


def _by_time(points: Iterable[Mapping[str, Any]]) -> list[tuple[dt.datetime, Mapping[str, Any]]]:
    """(moment, point) oldest first; on a tie the dearer last, so it is the one in force."""
    return sorted(
        ((utc(p["effective_at"]), p) for p in points), key=lambda tp: (tp[0], tp[1]["price"])
    )


def _in_force(
    points: Sequence[tuple[dt.datetime, Mapping[str, Any]]], moment: dt.datetime
) -> Mapping[str, Any] | None:
    """The price in force at ``moment``: the newest at or before it."""
    index = bisect.bisect_right(points, moment, key=lambda tp: tp[0])
    return points[index - 1][1] if index else None
