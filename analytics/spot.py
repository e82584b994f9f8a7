"""Spot candidates: on-demand GPU instances whose work can be interrupted.

An on-demand GPU instance is a candidate when its work tolerates interruption:

* it is **tagged** so: the tag ``SpotPolicy.workload_tag`` (``[tags] workload``, default
  ``workload``) is one of ``interruptible_workloads`` (training, batch, ci, dev) — high
  confidence; or
* it is **short-lived**: over the last ``lookback_days`` (30) its median run is under
  ``max_median_run_hours`` (6 h) — medium confidence. A run is a stretch of back-to-back hours
  with GPU telemetry, or, for an instance without telemetry, of hourly usage charges.

**Saving.** (on-demand − spot hourly price) × hours it runs per month, where the spot price is
the ``spot_percentile`` (p90) of the spot prices seen in the region over the lookback (a
pessimistic spot price: spot moves, and the saving must hold on a bad day), and hours per month
are the hours it ran in the lookback scaled to 730 h. With no spot price inside the lookback,
the newest older one is used and confidence drops a step.

An N1 VM with attached GPUs is priced as Google bills it (see :mod:`analytics.attached_gpus`):
on demand, the machine type's price + count × the GPU's; on spot, a series of machine spot +
count × GPU spot, one point each time either part's spot price changed, whose p90 is taken the
same way.

The evidence says the risk plainly: spot capacity can be reclaimed at short notice.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd

from analytics.attached_gpus import attached_gpu_quote, summed_spot_points
from analytics.findings import Confidence, Finding, owned_by, utc
from analytics.idle_gpu import _iso, _records
from analytics.policies import HOURS_PER_MONTH, SpotPolicy
from warehouse.queries.catalog import bills_attached_gpus, gpu_sku

CENT = Decimal("0.01")
NOTICE = {"aws": "2-minute", "gcp": "30-second", "azure": "30-second"}
LOWER: dict[Confidence, Confidence] = {"high": "medium", "medium": "low", "low": "low"}


def spot_candidate_findings(
    on_demand: pd.DataFrame,
    *,
    runs: pd.DataFrame,
    spot_prices: pd.DataFrame,
    catalog: pd.DataFrame,
    as_of: dt.datetime,
    policy: SpotPolicy,
    attached_parts: pd.DataFrame | None = None,
) -> list[Finding]:
    """Findings of kind ``spot_candidate``.

    ``on_demand`` is :func:`warehouse.queries.spend.on_demand_gpu_resources`; ``runs`` the
    rows of :func:`~warehouse.queries.spend.telemetry_runs` and
    :func:`~warehouse.queries.spend.billed_runs` with a ``basis`` column (telemetry | billing);
    ``spot_prices`` :func:`~warehouse.queries.spend.spot_prices`; ``catalog``
    :func:`~warehouse.queries.spend.gpu_type_catalog`; ``attached_parts``
    :func:`warehouse.queries.resource_prices.attached_gpu_part_prices` (the on-demand prices of
    N1 machine types and attached GPUs; N1 VMs go unpriced, hence unjudged, without it).
    """
    as_of = utc(as_of)
    window_start = as_of - policy.lookback
    run_lengths: dict[str, list[int]] = defaultdict(list)
    run_basis: dict[str, str] = {}
    for run in _records(runs):
        run_lengths[str(run["resource_id"])].append(int(run["run_hours"]))
        run_basis[str(run["resource_id"])] = str(run.get("basis") or "telemetry")
    spots: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for point in _records(spot_prices):
        spots[(point["provider"], point["region"], point["sku"])].append(point)
    on_demand_prices = {
        (t["provider"], t["region"], t["instance_type"]): t for t in _records(catalog)
    }
    parts = {
        (p["provider"], p["region"], p["sku"]): p
        for p in (_records(attached_parts) if attached_parts is not None else [])
    }
    wanted = {value.lower() for value in policy.interruptible_workloads}
    found = []
    for owner in _records(on_demand):
        resource_id = str(owner["resource_id"])
        lengths = run_lengths.get(resource_id)
        if not lengths:
            continue  # without runs there is no telling how many hours spot would save
        workload = _tag(owner.get("tags"), policy.workload_tag)
        median_run = float(statistics.median(lengths))
        tagged = workload is not None and workload.lower() in wanted
        if not tagged and median_run >= policy.max_median_run_hours:
            continue
        key = (owner["provider"], owner["region"], owner["instance_type"])
        attached = bills_attached_gpus(str(owner["provider"]), owner["instance_type"])
        if attached:
            listed, points = _with_attached_gpus(owner, parts=parts, spots=spots)
        else:
            listed, points = on_demand_prices.get(key), spots.get(key, [])
        spot = _spot_price(points, start=window_start, share=policy.spot_percentile)
        if listed is None or spot is None or spot["price"] >= listed["price"]:
            continue
        hours_run = sum(lengths)
        per_month = Decimal(hours_run) * HOURS_PER_MONTH / (policy.lookback_days * 24)
        saving = ((listed["price"] - spot["price"]) * per_month).quantize(CENT, ROUND_HALF_EVEN)
        confidence: Confidence = "high" if tagged else "medium"
        if not spot["fresh"]:
            confidence = LOWER[confidence]
        reason = (
            f"tagged {policy.workload_tag}={workload}"
            if tagged
            else f"median run {median_run:g} h (under {policy.max_median_run_hours:g} h)"
        )
        notice = NOTICE.get(str(owner["provider"]).lower(), "short")
        evidence: dict[str, Any] = {
            "reason": "workload_tag" if tagged else "short_runs",
            "workload_tag": policy.workload_tag,
            "workload": workload,
            "window_start": _iso(window_start),
            "window_end": _iso(as_of),
            "runs": len(lengths),
            "median_run_hours": median_run,
            "runs_from": run_basis[resource_id],
            "hours_run": hours_run,
            "hours_per_month": format(per_month.quantize(Decimal("0.1")), "f"),
            "instance_type": owner["instance_type"],
            "on_demand_hourly": format(listed["price"], "f"),
            "on_demand_source": f"{listed['price_source']} ({_iso(listed['effective_at'])[:10]})",
            "spot_hourly": format(spot["price"], "f"),
            "spot_basis": spot["basis"],
            "spot_source": spot["source"],
            "interruption_notice": notice,
            "interruption_risk": (
                f"spot capacity can be reclaimed with a {notice} notice; checkpoint your jobs "
                "so a reclaimed instance resumes instead of starting over"
            ),
        }
        if attached:
            evidence["priced_as"] = listed["priced_as"]  # e.g. n1-standard-8 + 2 x gpu:T4
        found.append(
            Finding(
                kind="spot_candidate",
                resource_id=resource_id,
                recommendation=(
                    f"Run {resource_id} ({_machine(owner, attached)}) on spot: {reason}. "
                    f"Saves about {saving:,} {listed['currency']}/month at the p90 spot price; "
                    f"spot can be reclaimed with a {notice} notice, so checkpoint your jobs."
                ),
                monthly_savings=saving,
                currency=str(listed["currency"]),
                confidence=confidence,
                evidence=evidence,
                **owned_by(owner),
                action="move_to_spot",
            )
        )
    return found


def _with_attached_gpus(
    owner: Mapping[str, Any],
    *,
    parts: Mapping[tuple[str, str, str], Mapping[str, Any]],
    spots: Mapping[tuple[str, str, str], list[dict[str, Any]]],
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """On-demand quote and spot price points of an N1 VM: machine type + its attached GPUs."""
    model, count = owner["gpu_model"], int(owner["gpu_count"] or 0)
    if model is None or count == 0:
        return None, []
    provider, region = str(owner["provider"]), str(owner["region"] or "")
    machine = str(owner["instance_type"])
    listed = attached_gpu_quote(
        parts,
        provider=provider,
        region=region,
        machine_type=machine,
        gpu_model=str(model),
        gpu_count=count,
    )
    points = summed_spot_points(
        spots.get((provider, region, machine), []),
        spots.get((provider, region, gpu_sku(str(model))), []),
        gpu_count=count,
    )
    return listed, points


def _machine(owner: Mapping[str, Any], attached: bool) -> str:
    """The instance type, with the GPUs attached to it where they are billed apart."""
    if not attached:
        return str(owner["instance_type"])
    return f"{owner['instance_type']} with {owner['gpu_count']} {owner['gpu_model']} GPUs attached"


def _tag(tags: Any, key: str) -> str | None:
    if not isinstance(tags, Mapping):
        return None
    value = tags.get(key)
    return None if value is None else str(value)


def _spot_price(
    points: list[dict[str, Any]], *, start: dt.datetime, share: float
) -> dict[str, Any] | None:
    """The ``share`` percentile (nearest rank) of spot prices since ``start``; else the newest
    older price, marked not fresh."""
    if not points:
        return None
    recent = sorted(
        (p for p in points if utc(p["effective_at"]) >= start), key=lambda p: p["price"]
    )
    if recent:
        chosen = recent[max(math.ceil(share * len(recent)) - 1, 0)]
        sources = sorted({str(p["source"]) for p in recent})
        return {
            "price": chosen["price"],
            "fresh": True,
            "basis": f"p{round(share * 100)} of {len(recent)} spot prices since {_iso(start)[:10]}",
            "source": ", ".join(sources),
        }
    newest = max(points, key=lambda p: utc(p["effective_at"]))
    return {
        "price": newest["price"],
        "fresh": False,
        "basis": f"no spot price since {_iso(start)[:10]}; newest known, "
        f"{_iso(newest['effective_at'])[:10]}",
        "source": str(newest["source"]),
    }
