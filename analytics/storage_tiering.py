"""Cold storage: hot-tier prefixes nobody reads, and the colder tier they belong in.

For each prefix's newest inventory row in the provider's hot tier (S3 Standard, GCS Standard,
Azure Hot):

* **Idle days.** Days since last access when the inventory knows it (high confidence), else
  days since last modified (medium: a write date says nothing about reads).
* **Tier.** The coldest tier whose minimum idle days fit (``ColdStoragePolicy.cold_tiers``: a
  tier's minimum storage duration, which is also roughly where its retrieval fee breaks even):
  S3 Standard-IA 30, Glacier Instant Retrieval 90, Deep Archive 180; GCS Nearline 30,
  Coldline 90, Archive 365; Azure Cool 30, Cold 90, Archive 180. A tier whose move costs more
  than it saves is passed over for the next warmer one.
* **What moves.** Objects under 128 KiB are billed as 128 KiB in the colder tiers, so they stay;
  the inventory counts them (``small_objects``) but not their bytes, so their bytes are taken
  at the 128 KiB upper bound: the saving is never overstated. A prefix of only tiny objects is
  left alone. Prefixes under a lifecycle rule, Intelligent-Tiering or Autoclass
  (``lifecycle_managed``) are already handled and are skipped.
* **Saving.** GB × (hot − target price) per month (GB = 2**30 bytes, as providers bill), less
  the one-time transition requests (per 1,000 objects) spread over
  ``transition_amortize_months`` (12).

GCS prices come from the prices table (the snapshot of the Cloud Billing Catalog); S3 and Azure
have no price feed yet and use the documented table in :mod:`analytics.policies`. Every finding
names the source of both prices.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd

from analytics.findings import Confidence, Finding, utc
from analytics.idle_gpu import _records
from analytics.policies import ColdStoragePolicy, StorageTier

GB = Decimal(1 << 30)
CENT = Decimal("0.01")
SCHEMES = {"aws": "s3", "gcp": "gs", "azure": "azure"}


def cold_storage_findings(
    inventory: pd.DataFrame,
    *,
    prices: pd.DataFrame,
    as_of: dt.datetime,
    policy: ColdStoragePolicy,
) -> list[Finding]:
    """Findings of kind ``cold_storage`` from
    :func:`warehouse.queries.storage.latest_storage_inventory` and
    :func:`~warehouse.queries.storage.storage_prices`."""
    as_of = utc(as_of)
    quoted = _quotes(prices)
    found: list[Finding] = []
    for row in _records(inventory):
        provider = str(row["provider"]).lower()
        if provider not in policy.cold_tiers or bool(row["lifecycle_managed"]):
            continue
        hot_class, hot_default, default_source = policy.hot_tiers[provider]
        if str(row["storage_class"]).upper() != hot_class:
            continue
        small = int(row["small_objects"] or 0)
        objects = int(row["objects"]) - small
        movable_bytes = int(row["bytes"]) - small * policy.small_object_bytes
        if objects <= 0 or movable_bytes <= 0:
            continue
        idle = _idle(row, as_of)
        if idle is None:
            continue
        days, basis, confidence = idle
        region = row["region"]
        hot_price, hot_source = quoted.get(
            (provider, region, hot_class), (hot_default, default_source)
        )
        gigabytes = Decimal(movable_bytes) / GB
        for tier in sorted(policy.cold_tiers[provider], key=lambda t: -t.min_idle_days):
            if days < tier.min_idle_days:
                continue
            price, source = quoted.get(
                (provider, region, tier.name), (tier.price_per_gb_month, default_source)
            )
            gross = gigabytes * (hot_price - price)
            transition = Decimal(objects) / 1000 * tier.transition_per_1000
            saving = _cents(gross - transition / policy.transition_amortize_months)
            if saving < policy.min_monthly_saving:
                continue
            evidence = {
                "bucket": row["bucket"],
                "prefix": row["prefix"],
                "region": region,
                "storage_class": row["storage_class"],
                "bytes": int(row["bytes"]),
                "objects": int(row["objects"]),
                "small_objects": small,
                "movable_bytes": movable_bytes,
                "movable_objects": objects,
                "movable_gb": round(float(gigabytes), 3),
                "idle_days": days,
                "idle_basis": basis,
                "last_accessed": _iso(row["last_accessed"]),
                "last_modified": _iso(row["last_modified"]),
                "snapshot_at": _iso(row["snapshot_at"]),
                "target_class": tier.name,
                "target_min_idle_days": tier.min_idle_days,
                "hot_price_per_gb_month": format(hot_price, "f"),
                "hot_price_source": hot_source,
                "target_price_per_gb_month": format(price, "f"),
                "target_price_source": source,
                "gross_monthly_saving": format(_cents(gross), "f"),
                "transition_cost_one_time": format(_cents(transition), "f"),
                "transition_per_1000_objects": format(tier.transition_per_1000, "f"),
                "transition_amortize_months": policy.transition_amortize_months,
                "retrieval_note": _retrieval_note(tier),
            }
            found.append(_finding(row, provider, tier, saving, confidence, evidence))
            break
    return found


def _finding(
    row: dict[str, Any],
    provider: str,
    tier: StorageTier,
    saving: Decimal,
    confidence: Confidence,
    evidence: dict[str, Any],
) -> Finding:
    location = f"{SCHEMES[provider]}://{row['bucket']}/{row['prefix']}"
    return Finding(
        kind="cold_storage",
        resource_id=location,
        recommendation=(
            f"Move {location} ({evidence['movable_gb']:g} GB, not {evidence['idle_basis']} "
            f"for {evidence['idle_days']} days) from {row['storage_class']} to {tier.name}: "
            f"saves about {saving:,} USD/month after transition requests."
        ),
        monthly_savings=saving,
        currency="USD",
        confidence=confidence,
        evidence=evidence,
        provider=provider,
        account_id=row["account_id"],
        region=row["region"],
        action=f"move_to:{tier.name}",
    )


def _idle(row: dict[str, Any], as_of: dt.datetime) -> tuple[int, str, Confidence] | None:
    if _present(row["last_accessed"]):
        return (as_of - utc(row["last_accessed"])).days, "read", "high"
    if _present(row["last_modified"]):
        return (as_of - utc(row["last_modified"])).days, "modified", "medium"
    return None


def _quotes(prices: pd.DataFrame) -> dict[tuple[str, Any, str], tuple[Decimal, str]]:
    if prices.empty:
        return {}
    return {
        (str(r["provider"]).lower(), r["region"], str(r["storage_class"]).upper()): (
            r["price"],
            f"{r['source']} ({str(_iso(r['effective_at']))[:10]})",
        )
        for r in _records(prices)
    }


def _retrieval_note(tier: StorageTier) -> str:
    return (
        f"{tier.name} charges for reads and for deleting objects before {tier.min_idle_days} "
        "days; check nothing reads this prefix on a schedule before moving it"
    )


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and value != value)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_EVEN)


def _iso(value: Any) -> str | None:
    if not _present(value):
        return None
    return str(utc(value).isoformat().replace("+00:00", "Z"))
