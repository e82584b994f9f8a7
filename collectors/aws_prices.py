"""AWS prices: on-demand from the Pricing API, spot as the p90 of 30 days of history.

* On-demand: ``pricing.get_products`` answers PriceList entries that are JSON *strings*; each
  OnDemand term's hourly ``pricePerUnit.USD`` is read as Decimal text.
* Spot: ``ec2.describe_spot_price_history`` over the window; the price we plan with is the 90th
  percentile (nearest rank, so always a price AWS really charged) per type and availability zone,
  and per type over the whole region. A per-AZ row carries the AZ in ``prices.region``.
* When the Pricing API is unreachable, or does not know a type, the shipped snapshot fills in,
  and the result says so (which snapshot, and why), so callers can record it with the run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import Engine

from collectors.base import CollectResult
from collectors.price_snapshot import snapshot_prices
from warehouse.errors import SourceError
from warehouse.load_inventory import PRICE_KEY, PriceRecord, load_inventory
from warehouse.queries.catalog import inventory_instance_types

if TYPE_CHECKING:
    from spendwatch.config import Settings

ONDEMAND_SOURCE = "aws-pricing-api"
SPOT_SOURCE = "aws-spot-p90-30d"
SPOT_WINDOW = dt.timedelta(days=30)
SPOT_PERCENTILE = 90
# The Linux, shared-tenancy, no-license, "Used" capacity SKU is the one a plain instance pays.
_PRODUCT_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
}


@dataclass(frozen=True, slots=True)
class PriceFetch:
    prices: list[PriceRecord]
    sources: list[str]  # the sources the prices came from, e.g. ["snapshot-aws-2026-07-20"]
    fallback_reason: str | None = None  # why the snapshot was used, when it was
    missing: list[str] = field(default_factory=list)  # types priced by nobody

    def details(self) -> dict[str, Any]:
        """JSON-safe facts for ``collector_runs.details``."""
        return {
            "price_sources": self.sources,
            "fallback_reason": self.fallback_reason,
            "unpriced_types": self.missing,
        }


# --- on-demand ----------------------------------------------------------------------------------


def product_filters(instance_type: str, *, region: str) -> list[dict[str, str]]:
    fields = {"instanceType": instance_type, "regionCode": region, **_PRODUCT_FILTERS}
    return [{"Type": "TERM_MATCH", "Field": name, "Value": value} for name, value in fields.items()]


def ondemand_prices_from_price_list(price_list: Iterable[str], *, region: str) -> list[PriceRecord]:
    """Hourly USD OnDemand prices from GetProducts ``PriceList`` strings."""
    records = []
    for text in price_list:
        product = json.loads(text)
        instance_type = product["product"]["attributes"]["instanceType"]
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            effective = dt.datetime.fromisoformat(term["effectiveDate"].replace("Z", "+00:00"))
            for dimension in term["priceDimensions"].values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if dimension.get("unit") != "Hrs" or usd is None:
                    continue
                records.append(
                    PriceRecord(
                        provider="aws",
                        region=region,
                        sku=instance_type,
                        pricing_model="on_demand",
                        unit="hour",
                        price=Decimal(usd),
                        currency="USD",
                        effective_at=effective.astimezone(dt.UTC),
                        source=ONDEMAND_SOURCE,
                    )
                )
    return records


def fetch_ondemand_prices(
    pricing: Any, instance_types: Iterable[str], *, region: str
) -> list[PriceRecord]:
    """One filtered (and paginated) GetProducts query per instance type."""
    paginator = pricing.get_paginator("get_products")
    records: list[PriceRecord] = []
    for instance_type in sorted(set(instance_types)):
        pages = paginator.paginate(
            ServiceCode="AmazonEC2",
            Filters=product_filters(instance_type, region=region),
            FormatVersion="aws_v1",
        )
        for page in pages:
            records.extend(ondemand_prices_from_price_list(page["PriceList"], region=region))
    return records


def ondemand_prices_or_snapshot(
    pricing: Any, instance_types: Iterable[str], *, region: str
) -> PriceFetch:
    """The Pricing API's prices; the snapshot for whatever the API could not price."""
    wanted = sorted(set(instance_types))
    reason = None
    try:
        records = fetch_ondemand_prices(pricing, wanted, region=region)
    except (BotoCoreError, ClientError) as exc:
        records = []
        reason = f"AWS Pricing API unavailable ({_one_line(exc)})"
    priced = {record.sku for record in records}
    unpriced = [name for name in wanted if name not in priced]
    fallback = snapshot_prices(provider="aws", skus=unpriced)
    if fallback and reason is None:
        reason = "AWS Pricing API has no price for " + ", ".join(sorted({p.sku for p in fallback}))
    records.extend(fallback)
    priced |= {record.sku for record in fallback}
    return PriceFetch(
        prices=records,
        sources=sorted({record.source for record in records}),
        fallback_reason=reason if fallback or not records else None,
        missing=[name for name in wanted if name not in priced],
    )


# --- spot ---------------------------------------------------------------------------------------


def nearest_rank_percentile(values: Sequence[Decimal], percentile: int) -> Decimal:
    """The smallest value with at least ``percentile`` % of the values at or below it."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = -(-percentile * len(ordered) // 100)  # ceil without float
    return ordered[max(rank, 1) - 1]


def spot_points_in_window(
    history: Iterable[Mapping[str, Any]], *, since: dt.datetime
) -> list[Mapping[str, Any]]:
    """Points at or after ``since``, plus the price in force at ``since`` (the last change before
    it, per type and AZ), which is what the API itself returns for a window."""
    inside: list[Mapping[str, Any]] = []
    before: dict[tuple[str, str], Mapping[str, Any]] = {}
    for point in history:
        if point["Timestamp"] >= since:
            inside.append(point)
            continue
        key = (point["InstanceType"], point["AvailabilityZone"])
        if key not in before or point["Timestamp"] > before[key]["Timestamp"]:
            before[key] = point
    return inside + list(before.values())


def spot_p90_prices(
    history: Iterable[Mapping[str, Any]], *, region: str, until: dt.datetime
) -> list[PriceRecord]:
    """p90 per (type, AZ) and per (type, region) of the points in ``[until - 30 days, until]``."""
    points = [p for p in history if p["Timestamp"] <= until]
    points = spot_points_in_window(points, since=until - SPOT_WINDOW)
    groups: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for point in points:
        price = Decimal(point["SpotPrice"])
        groups[(point["InstanceType"], point["AvailabilityZone"])].append(price)
        groups[(point["InstanceType"], region)].append(price)
    return [
        PriceRecord(
            provider="aws",
            region=where,
            sku=instance_type,
            pricing_model="spot",
            unit="hour",
            price=nearest_rank_percentile(values, SPOT_PERCENTILE),
            currency="USD",
            effective_at=until,
            source=SPOT_SOURCE,
        )
        for (instance_type, where), values in sorted(groups.items())
    ]


def fetch_spot_prices(
    ec2: Any, instance_types: Iterable[str], *, until: dt.datetime
) -> list[PriceRecord]:
    wanted = sorted(set(instance_types))
    if not wanted:
        return []
    region = ec2.meta.region_name
    paginator = ec2.get_paginator("describe_spot_price_history")
    try:
        history = [
            point
            for page in paginator.paginate(
                InstanceTypes=wanted,
                ProductDescriptions=["Linux/UNIX"],
                StartTime=until - SPOT_WINDOW,
                EndTime=until,
            )
            for point in page.get("SpotPriceHistory", [])
        ]
    except (BotoCoreError, ClientError) as exc:
        raise SourceError(
            f"aws spot price history ({region}): {_one_line(exc)}; check the AWS credentials "
            "and AWS_ENDPOINT_URL"
        ) from None
    return spot_p90_prices(history, region=region, until=until)


class AwsPricesCollector:
    """``spendwatch collect aws_prices``: prices of the instance types in the AWS inventory.

    On-demand falls back to the snapshot (and says so in the run's details); spot has no
    offline source, so a spot failure is recorded in the details and on-demand still loads.
    """

    name = "aws_prices"
    loads = "prices"
    natural_key: tuple[str, ...] = PRICE_KEY
    lookback = dt.timedelta(0)
    initial_window = SPOT_WINDOW

    def __init__(self, *, pricing: Any, ec2: Any) -> None:
        self.pricing = pricing
        self.ec2 = ec2

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsPricesCollector:
        import boto3  # boto3's default credential chain; AWS_ENDPOINT_URL is honoured

        return cls(
            pricing=boto3.client("pricing", region_name=settings.aws.pricing_region),
            ec2=boto3.client("ec2", region_name=settings.aws.region),
        )

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        region = self.ec2.meta.region_name
        types = inventory_instance_types(engine, provider="aws", region=region)
        ondemand = ondemand_prices_or_snapshot(self.pricing, types, region=region)
        details: dict[str, Any] = {"instance_types": len(types), **ondemand.details()}
        try:
            spot = fetch_spot_prices(self.ec2, types, until=until)
        except SourceError as exc:
            spot, details["spot_error"] = [], str(exc)
        details["spot_prices"] = len(spot)
        counts = load_inventory(engine, price_records=[*ondemand.prices, *spot])
        return CollectResult(rows=counts.prices, watermark=until, details=details)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
