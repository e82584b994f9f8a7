"""Idle and unmonitored GPU instances.

**Active.** A GPU is active in an hour when its maximum utilization that hour is above
``policy.active_util_percent`` (5%), or, where utilization is absent (MIG) or not believed, when
its DCGM engine-active is. A utilization reading is *not believed* when the GPU held zero bytes
of memory all hour: kernels run inside a CUDA context and a context always takes device memory,
so "100% busy with 0 bytes used" is a sensor artefact (the L40S does exactly this while idle).
Such hours count as observed but not active, and the evidence says how many there were. The
SQL form of this rule is :func:`warehouse.queries.gpu.gpu_hour_is_active`.

**Idle.** An instance is idle when no GPU on it was active in any hour of the trailing
``window_hours`` and it was running the whole time: GPU samples with a usable signal in at
least ``min_coverage`` of those hours. Memory held without compute is no exemption (a notebook
kernel holding 20 GiB still wastes the GPU); it goes into the evidence.

**Saving.** 730 × hourly effective cost, where hourly cost = effective cost of Usage charges over
the last ``cost_lookback_days`` / hours billed. Without billing, the catalog on-demand price of
the instance type, and the evidence says so.

**Unmonitored.** A GPU instance billed in the window with no GPU sample at all: no saving is
claimed; the recommendation is to install telemetry.

Inputs are per-resource summaries (see ``warehouse.queries.gpu``); these functions are pure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd

from analytics.findings import Confidence, Finding, utc
from analytics.policies import HOURS_PER_MONTH, IdleGpuPolicy

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
GIB = 1 << 30


@dataclasses.dataclass(frozen=True, slots=True)
class HourlyCost:
    """What one hour of a resource costs, and where that number came from."""

    hourly: Decimal
    currency: str
    source: str  # billing | catalog_on_demand
    basis: str  # one sentence for the evidence


def idle_gpu_findings(
    usage: pd.DataFrame,
    *,
    idle_since: Mapping[str, dt.datetime],
    costs: pd.DataFrame,
    catalog: pd.DataFrame,
    inventory: pd.DataFrame,
    as_of: dt.datetime,
    policy: IdleGpuPolicy,
) -> list[Finding]:
    """Findings of kind ``idle_gpu`` (action ``terminate``) for the window ending at ``as_of``.

    ``usage`` is :func:`warehouse.queries.gpu.gpu_window_summary` for that window,
    ``idle_since`` :func:`~warehouse.queries.gpu.idle_streak_starts`, ``costs``
    :func:`~warehouse.queries.gpu.hourly_effective_costs` over the cost lookback, ``catalog``
    :func:`~warehouse.queries.resource_prices.catalog_on_demand_prices`, ``inventory``
    :func:`~warehouse.queries.gpu.gpu_inventory`.
    """
    as_of = utc(as_of)
    window_start = as_of - policy.window
    costs_by_id, catalog_by_id, inventory_by_id = _by_id(costs), _by_id(catalog), _by_id(inventory)
    found: list[Finding] = []
    for row in _records(usage):
        if int(row["active_hours"]) > 0 or int(row["hours_observed"]) < policy.min_hours_observed:
            continue
        resource_id = str(row["resource_id"])
        owner = inventory_by_id.get(resource_id, {})
        billing = costs_by_id.get(resource_id, {})
        cost = hourly_cost(
            billing, catalog_by_id.get(resource_id), lookback_days=policy.cost_lookback_days
        )
        since = utc(idle_since.get(resource_id) or window_start)
        idle_hours = int((as_of - since) / dt.timedelta(hours=1))
        gpu_count = int(owner.get("gpu_count") or row["gpus_reporting"])
        gpu_model = owner.get("gpu_model") or row["gpu_model"]
        evidence: dict[str, Any] = {
            "window_start": _iso(window_start),
            "window_end": _iso(as_of),
            "window_hours": policy.window_hours,
            "hours_observed": int(row["hours_observed"]),
            "min_hours_required": policy.min_hours_observed,
            "active_hours": 0,
            "judged_on": _judged_on(row),
            "max_util_percent": _number(row["max_util_percent"]),
            "max_engine_active_percent": _number(row["max_engine_active_percent"]),
            "max_memory_used_bytes": _integer(row["max_memory_used_bytes"]),
            "gpu_count": gpu_count,
            "gpus_reporting": int(row["gpus_reporting"]),
            "gpu_model": gpu_model,
            "telemetry_sources": sorted({row["source_min"], row["source_max"]}),
            "idle_since": _iso(since),
            "idle_hours": idle_hours,
        }
        held = _integer(row["max_memory_used_bytes"]) or 0
        if held >= policy.held_memory_note_bytes:
            evidence["memory_note"] = (
                f"a process holds {held / GIB:.1f} GiB of GPU memory but computes nothing"
            )
        suspect = int(row["suspect_hours"])
        if suspect:
            evidence["suspect_util_hours"] = suspect
            evidence["suspect_note"] = (
                f"utilization above {policy.active_util_percent:g}% with 0 bytes of GPU memory "
                f"used in {suspect} h: not counted as work (no kernel runs without memory)"
            )
        currency = cost.currency if cost else _currency(billing, policy)
        if cost is None:
            monthly = Decimal(0)
            evidence |= {"hourly_cost": None, "hourly_cost_source": "unknown"}
            evidence["cost_basis"] = (
                f"no billing in the last {policy.cost_lookback_days} days and no on-demand "
                "catalog price for its instance type and region: saving unknown"
            )
        else:
            monthly = _cents(HOURS_PER_MONTH * cost.hourly)
            evidence |= {
                "hourly_cost": format(cost.hourly.quantize(MICRO, ROUND_HALF_EVEN), "f"),
                "hourly_cost_source": cost.source,
                "cost_basis": cost.basis,
                "cost_so_far": format(_cents(cost.hourly * idle_hours), "f"),
            }
        what = f"{gpu_count}× {gpu_model}" if gpu_model else f"{gpu_count} GPU(s)"
        recommendation = (
            f"Stop or terminate {resource_id} ({what}): no GPU did any work in the last "
            f"{policy.window_hours} h, idle since {_iso(since)}."
        )
        if monthly:
            recommendation += f" Saves about {monthly:,} {currency}/month."
        found.append(
            Finding(
                kind="idle_gpu",
                resource_id=resource_id,
                recommendation=recommendation,
                monthly_savings=monthly,
                currency=currency,
                confidence=_confidence(row, policy),
                evidence=evidence,
                action="terminate",
                **_identity(owner, billing, row),
            )
        )
    return found


def unmonitored_gpu_findings(
    unmonitored: pd.DataFrame,
    *,
    costs: pd.DataFrame,
    catalog: pd.DataFrame,
    as_of: dt.datetime,
    policy: IdleGpuPolicy,
) -> list[Finding]:
    """Findings of kind ``unmonitored_gpu``, saving 0, from
    :func:`warehouse.queries.gpu.billed_gpu_resources_without_telemetry` for the window."""
    as_of = utc(as_of)
    costs_by_id, catalog_by_id = _by_id(costs), _by_id(catalog)
    found: list[Finding] = []
    for owner in _records(unmonitored):
        resource_id = str(owner["resource_id"])
        billing = costs_by_id.get(resource_id, {})
        cost = hourly_cost(
            billing, catalog_by_id.get(resource_id), lookback_days=policy.cost_lookback_days
        )
        gpus = f"{owner['gpu_count']}× {owner['gpu_model'] or 'GPU'}"
        evidence: dict[str, Any] = {
            "window_start": _iso(as_of - policy.window),
            "window_end": _iso(as_of),
            "window_hours": policy.window_hours,
            "gpu_samples": 0,
            "gpu_count": int(owner["gpu_count"]),
            "gpu_model": owner["gpu_model"],
            "instance_type": owner["instance_type"],
            "hourly_cost": None if cost is None else format(cost.hourly.quantize(MICRO), "f"),
            "hourly_cost_source": None if cost is None else cost.source,
            "cost_basis": None if cost is None else cost.basis,
        }
        found.append(
            Finding(
                kind="unmonitored_gpu",
                resource_id=resource_id,
                recommendation=(
                    f"Install dcgm-exporter (Prometheus/Kubernetes) or the NVML agent on "
                    f"{resource_id} ({gpus}): it is billed but sent no GPU telemetry in the last "
                    f"{policy.window_hours} h, so idle and rightsizing checks cannot see it."
                ),
                monthly_savings=Decimal(0),
                currency=cost.currency if cost else _currency(billing, policy),
                confidence="high",
                evidence=evidence,
                action="install_gpu_telemetry",
                **_identity(owner, billing, owner),
            )
        )
    return found


def hourly_cost(
    billing: Mapping[str, Any], catalog: Mapping[str, Any] | None, *, lookback_days: int
) -> HourlyCost | None:
    """Billing first (effective cost / hours billed); the on-demand list price otherwise."""
    hours = billing.get("hours_billed")
    spent = billing.get("effective_cost")
    if spent is not None and hours and float(hours) > 0:
        hours_billed = Decimal(str(hours))
        return HourlyCost(
            hourly=spent / hours_billed,
            currency=str(billing.get("currency") or "USD"),
            source="billing",
            basis=(
                f"effective cost {spent} over {hours_billed.normalize():f} billed hours "
                f"in the last {lookback_days} days (usage only; credits and refunds excluded)"
            ),
        )
    if catalog:
        return HourlyCost(
            hourly=catalog["price"],
            currency=str(catalog["currency"]),
            source="catalog_on_demand",
            basis=(
                f"no billing for this resource in the last {lookback_days} days: on-demand "
                f"list price of {catalog.get('priced_as') or catalog['instance_type']} in "
                f"{catalog['region']} "
                f"({catalog['price_source']}, {_iso(catalog['effective_at'])[:10]})"
            ),
        )
    return None


def _confidence(row: Mapping[str, Any], policy: IdleGpuPolicy) -> Confidence:
    # Direct GPU telemetry over the required hours: high; relying on CloudWatch: medium.
    return "high" if int(row["high_source_hours"]) >= policy.min_hours_observed else "medium"


def _judged_on(row: Mapping[str, Any]) -> str:
    engine_only = int(row["engine_only_hours"])
    if engine_only == 0:
        return "utilization"
    if engine_only >= int(row["hours_observed"]):
        return "engine_active (no utilization reported, e.g. MIG)"
    return "utilization, and engine_active where utilization was absent"


def _identity(
    owner: Mapping[str, Any], billing: Mapping[str, Any], fallback: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "provider": owner.get("provider")
        or fallback.get("provider")
        or billing.get("provider_name"),
        "account_id": owner.get("account_id") or billing.get("account_id"),
        "region": owner.get("region") or billing.get("region"),
        "owner": owner.get("owner"),
        "team": owner.get("team"),
    }


def _currency(billing: Mapping[str, Any], policy: IdleGpuPolicy) -> str:
    return str(billing.get("currency") or policy.default_currency)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    return [
        {str(key): (None if _missing(value) else value) for key, value in row.items()}
        for row in frame.to_dict("records")
    ]


def _by_id(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(row["resource_id"]): row for row in _records(frame)}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _number(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _integer(value: Any) -> int | None:
    return None if value is None else int(value)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_EVEN)


def _iso(value: dt.datetime) -> str:
    return utc(value).isoformat().replace("+00:00", "Z")
