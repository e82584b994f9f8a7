"""GPU rightsizing: instances with more GPU than their work needs.

Over the last ``lookback_days`` (7):

* **GPUs used.** A GPU is used when it was active (see :mod:`analytics.idle_gpu`: utilization
  above 5% with memory held, or DCGM engine-active under MIG) in at least ``min_active_share``
  (5%) of the hours the instance was observed. An installed GPU that sent nothing counts as
  unused. Instances observed in fewer than ``min_coverage`` of the hours are not judged.
* **Fewer GPUs.** When at most half the installed GPUs are used, the recommendation is the
  cheapest instance type of the **same GPU model** in the same region with at least that many
  GPUs and at least the peak GPU memory seen per GPU. High confidence.
* **A cheaper model.** When every GPU is used but the p95 of hourly utilization is below
  ``p95_util_percent`` (30%), the work is light: the cheapest type of another GPU model with
  as many GPUs and enough memory per GPU is recommended, at medium confidence (a slower GPU
  may stretch the jobs' run time).
* **Saving.** (current − recommended on-demand hourly price) × 730. Both prices come from the
  catalog, with their source and date in the evidence, so the two are comparable.
* **N1 VMs with attached GPUs** (GCE bills machine type + count × per-GPU price; see
  :mod:`analytics.attached_gpus`). Fewer GPUs means detaching some: the same machine type with
  the fewest GPUs Google lets it have (:func:`~analytics.attached_gpus.attachable_counts`) at
  or above the count used. Per-GPU memory is unchanged (the same model stays), so the peak
  seen still fits. Saving = GPUs detached × per-GPU on-demand price × 730. The cheaper-model
  branch is not applied to them: that would swap the attached model, which needs each model's
  memory and limits on the machine type, and is left for later.

Instances with no used GPU at all are the idle rule's business, not this one's.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd

from analytics.attached_gpus import attachable_counts, attached_gpu_quote
from analytics.findings import Confidence, Finding, owned_by, utc
from analytics.idle_gpu import _iso, _records
from analytics.policies import HOURS_PER_MONTH, RightsizingPolicy
from warehouse.queries.catalog import bills_attached_gpus

CENT = Decimal("0.01")
GIB = 1 << 30


def p95_candidates(
    activity: pd.DataFrame, *, inventory: pd.DataFrame, policy: RightsizingPolicy
) -> list[str]:
    """Resources whose every installed GPU is used and whose p95 may lie below the threshold:
    the only ones whose utilization samples need reading."""
    out = []
    for usage in _usage(activity, inventory, policy):
        n, high = usage["util_hours"], usage["high_util_hours"]
        if usage["used"] == usage["installed"] and n and high <= n - math.ceil(0.95 * n):
            out.append(usage["resource_id"])
    return out


def gpu_rightsizing_findings(
    activity: pd.DataFrame,
    *,
    utilization: Mapping[str, Sequence[float]],
    inventory: pd.DataFrame,
    catalog: pd.DataFrame,
    as_of: dt.datetime,
    policy: RightsizingPolicy,
    attached_parts: pd.DataFrame | None = None,
) -> list[Finding]:
    """Findings of kind ``gpu_rightsizing``.

    ``activity`` is :func:`warehouse.queries.spend.per_gpu_activity` over the lookback,
    ``utilization`` :func:`~warehouse.queries.spend.utilization_samples` for the
    :func:`p95_candidates`, ``inventory`` :func:`warehouse.queries.gpu.gpu_inventory`,
    ``catalog`` :func:`~warehouse.queries.spend.gpu_type_catalog` and ``attached_parts``
    :func:`warehouse.queries.resource_prices.attached_gpu_part_prices` (N1 VMs go unpriced,
    hence unjudged, without it).
    """
    as_of = utc(as_of)
    types = _records(catalog)
    by_type = {(t["provider"], t["region"], t["instance_type"]): t for t in types}
    parts = {
        (p["provider"], p["region"], p["sku"]): p
        for p in (_records(attached_parts) if attached_parts is not None else [])
    }
    found = []
    for usage in _usage(activity, inventory, policy):
        owner = usage["owner"]
        if bills_attached_gpus(str(owner["provider"]), owner["instance_type"]):
            detach = _detach_finding(usage, parts=parts, as_of=as_of, policy=policy)
            found.extend([detach] if detach is not None else [])
            continue
        current = by_type.get((owner["provider"], owner["region"], owner["instance_type"]))
        if current is None or usage["used"] == 0:
            continue
        peak = usage["peak_memory_bytes"]
        need_memory = peak if peak is not None else int(current["gpu_memory_bytes"] or 0)
        p95: float | None = None
        if 2 * usage["used"] <= usage["installed"]:
            same_model = True
            need_gpus = usage["used"]
        elif usage["used"] == usage["installed"] and usage["resource_id"] in utilization:
            p95 = _percentile(utilization[usage["resource_id"]], 0.95)
            if p95 >= policy.p95_util_percent:
                continue
            same_model = False
            need_gpus = usage["installed"]
        else:
            continue
        options = [
            t
            for t in types
            if (t["provider"], t["region"]) == (current["provider"], current["region"])
            and (t["gpu_model"] == current["gpu_model"]) == same_model
            and int(t["gpu_count"]) >= need_gpus
            and int(t["gpu_memory_bytes"] or 0) >= need_memory
            and t["currency"] == current["currency"]
            and t["price"] < current["price"]
        ]
        if not options:
            continue
        best = min(options, key=lambda t: (t["price"], int(t["gpu_count"]), t["instance_type"]))
        saving = ((current["price"] - best["price"]) * HOURS_PER_MONTH).quantize(
            CENT, ROUND_HALF_EVEN
        )
        found.append(_finding(usage, current, best, saving, p95, same_model, as_of, policy))
    return found


def _finding(
    usage: dict[str, Any],
    current: dict[str, Any],
    best: dict[str, Any],
    saving: Decimal,
    p95: float | None,
    same_model: bool,
    as_of: dt.datetime,
    policy: RightsizingPolicy,
) -> Finding:
    owner, resource_id = usage["owner"], usage["resource_id"]
    peak = usage["peak_memory_bytes"]
    evidence: dict[str, Any] = {
        "window_start": _iso(as_of - policy.lookback),
        "window_end": _iso(as_of),
        "hours_observed": usage["hours"],
        "gpus_used": usage["used"],
        "gpus_installed": usage["installed"],
        "per_gpu_active_share": usage["shares"],
        "min_active_share": policy.min_active_share,
        "p95_util_percent": None if p95 is None else round(p95, 2),
        "peak_memory_bytes": peak,
        "peak_memory_gib": None if peak is None else round(peak / GIB, 2),
        "current": _quote(current),
        "recommended": _quote(best),
        "basis": "same GPU model, fewer GPUs"
        if same_model
        else f"every GPU used but p95 utilization under {policy.p95_util_percent:g}%",
    }
    reason = (
        f"{usage['used']} of {usage['installed']} GPUs did work in the last "
        f"{policy.lookback_days} days"
        if same_model
        else f"all {usage['installed']} GPUs are used but p95 utilization is {p95:.0f}%"
    )
    return Finding(
        kind="gpu_rightsizing",
        resource_id=resource_id,
        recommendation=(
            f"Resize {resource_id} from {current['instance_type']} "
            f"({current['gpu_count']}× {current['gpu_model']}) to {best['instance_type']} "
            f"({best['gpu_count']}× {best['gpu_model']}): {reason}. "
            f"Saves about {saving:,} {current['currency']}/month."
        ),
        monthly_savings=saving,
        currency=str(current["currency"]),
        confidence=_confidence(same_model),
        evidence=evidence,
        **owned_by(owner),
        action=f"resize_to:{best['instance_type']}",
    )


def _detach_finding(
    usage: dict[str, Any],
    *,
    parts: Mapping[tuple[str, str, str], Mapping[str, Any]],
    as_of: dt.datetime,
    policy: RightsizingPolicy,
) -> Finding | None:
    """Detach GPUs from an N1 VM that uses at most half of them (None: nothing to detach, or
    no price for the machine type or the GPU)."""
    owner, resource_id = usage["owner"], usage["resource_id"]
    used, installed, model = usage["used"], usage["installed"], owner["gpu_model"]
    machine_type = str(owner["instance_type"])
    if used == 0 or 2 * used > installed or model is None:
        return None
    keep = next((n for n in attachable_counts(str(model), machine_type) if n >= used), None)
    if keep is None or keep >= installed:
        return None  # Google allows no smaller attachment on this machine type
    place = {"provider": str(owner["provider"]), "region": str(owner["region"] or "")}
    shape = {"machine_type": machine_type, "gpu_model": str(model)}
    current = attached_gpu_quote(parts, **place, **shape, gpu_count=installed)
    kept = attached_gpu_quote(parts, **place, **shape, gpu_count=keep)
    if current is None or kept is None:
        return None
    detached = installed - keep
    saving = (detached * current["gpu_price"] * HOURS_PER_MONTH).quantize(CENT, ROUND_HALF_EVEN)
    peak = usage["peak_memory_bytes"]
    reason = (
        f"only {used} of the {installed} GPUs {'was' if used == 1 else 'were'} active in at "
        f"least {policy.min_active_share:.0%} of hours over {policy.lookback_days} days"
    )
    evidence: dict[str, Any] = {
        "window_start": _iso(as_of - policy.lookback),
        "window_end": _iso(as_of),
        "hours_observed": usage["hours"],
        "gpus_used": used,
        "gpus_installed": installed,
        "gpus_to_detach": detached,
        "per_gpu_active_share": usage["shares"],
        "min_active_share": policy.min_active_share,
        "p95_util_percent": None,
        "peak_memory_bytes": peak,
        "peak_memory_gib": None if peak is None else round(peak / GIB, 2),
        "current": _quote(current) | {"priced_as": current["priced_as"]},
        "recommended": _quote(kept) | {"priced_as": kept["priced_as"]},
        "gpu_hourly_price": format(current["gpu_price"], "f"),
        "basis": (
            f"same machine type, fewer attached {model} GPUs: Google attaches "
            f"{_counts(attachable_counts(str(model), machine_type))} to {machine_type}; "
            "per-GPU memory is unchanged"
        ),
    }
    return Finding(
        kind="gpu_rightsizing",
        resource_id=resource_id,
        recommendation=(
            f"Detach {detached} of {installed} {model} GPUs from {resource_id} "
            f"({machine_type}), keeping {keep}: {reason}. Saves about {saving:,} "
            f"{current['currency']}/month ({detached} × {format(current['gpu_price'], 'f')} "
            f"{current['currency']}/h per GPU × {HOURS_PER_MONTH} h)."
        ),
        monthly_savings=saving,
        currency=str(current["currency"]),
        confidence="high",
        evidence=evidence,
        **owned_by(owner),
        action=f"detach_gpus_to:{keep}",
    )


def _counts(counts: Sequence[int]) -> str:
    """[1, 2, 4] -> '1, 2 or 4'."""
    words = [str(n) for n in counts]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _confidence(same_model: bool) -> Confidence:
    return "high" if same_model else "medium"


def _usage(
    activity: pd.DataFrame, inventory: pd.DataFrame, policy: RightsizingPolicy
) -> Iterable[dict[str, Any]]:
    """Per inventoried resource with samples: hours, per-GPU shares, GPUs used, peak memory."""
    owners = {str(r["resource_id"]): r for r in _records(inventory)}
    per_resource: dict[str, list[dict[str, Any]]] = {}
    for gpu in _records(activity):
        if str(gpu["resource_id"]) in owners:
            per_resource.setdefault(str(gpu["resource_id"]), []).append(gpu)
    min_hours = policy.min_coverage * policy.lookback_days * 24
    for resource_id, gpus in sorted(per_resource.items()):
        hours = max(int(g["hours_observed"]) for g in gpus)
        if hours < min_hours:
            continue
        shares = {
            str(g["gpu_id"]): round(int(g["active_hours"]) / hours, 4)
            for g in sorted(gpus, key=lambda g: str(g["gpu_id"]))
        }
        installed = max(int(owners[resource_id]["gpu_count"]), len(gpus))
        peaks = [int(g["peak_memory_bytes"]) for g in gpus if g["peak_memory_bytes"] is not None]
        yield {
            "resource_id": resource_id,
            "owner": owners[resource_id],
            "hours": hours,
            "shares": shares,
            "installed": installed,
            "used": sum(1 for share in shares.values() if share >= policy.min_active_share),
            "peak_memory_bytes": max(peaks) if peaks else None,
            "util_hours": sum(int(g["util_hours"]) for g in gpus),
            "high_util_hours": sum(int(g["high_util_hours"] or 0) for g in gpus),
        }


def _percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``share`` of values at or
    below it (no interpolation, so it is always a value that was measured)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def _quote(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "instance_type": row["instance_type"],
        "gpu_count": int(row["gpu_count"]),
        "gpu_model": row["gpu_model"],
        "gpu_memory_bytes": None
        if row["gpu_memory_bytes"] is None
        else int(row["gpu_memory_bytes"]),
        "hourly_price": format(row["price"], "f"),
        "currency": row["currency"],
        "price_source": row["price_source"],
        "price_date": _iso(row["effective_at"])[:10],
    }
