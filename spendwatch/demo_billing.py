"""The demo fleet's hourly FOCUS billing: one on-demand Usage row per running host per hour."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from spendwatch.demo_fleet import FOCUS_PROVIDER, Host, hours

FOCUS_HEADER: tuple[str, ...] = (
    "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodStart",
    "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "BilledCost", "EffectiveCost", "ListCost",
    "ContractedCost", "ListUnitPrice", "ContractedUnitPrice", "ConsumedQuantity", "ConsumedUnit",
    "PricingQuantity", "PricingUnit", "PricingCategory", "ProviderName", "PublisherName",
    "InvoiceIssuerName", "RegionId", "RegionName", "AvailabilityZone", "ResourceId",
    "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "SkuId", "SkuPriceId",
    "SubAccountId", "SubAccountName", "Tags",
)  # fmt: skip


def focus_billing_rows(
    hosts: list[Host], *, as_of: dt.datetime, days: int = 30
) -> Iterator[list[str]]:
    """One FOCUS Usage row per host per hour at the on-demand price (header not included)."""
    for host in hosts:
        shape = host.shape
        provider, service, publisher, account = FOCUS_PROVIDER[shape.provider]
        price = format(shape.hourly_price, "f")
        tags = json.dumps(host.tags, sort_keys=True)
        description = (
            f"On Demand {shape.instance_type} instance hour ({shape.gpu_count}x {shape.gpu_model})"
        )
        window = hours(as_of=as_of, days=days)
        for position, hour in enumerate(window):
            if not host.runs_in(len(window) - position):
                continue  # terminated: no more bill
            period = hour.replace(day=1)
            next_period = (period + dt.timedelta(days=32)).replace(day=1)
            yield [
                account, "acme-ml", "USD", _ts(period), _ts(next_period), _ts(hour),
                _ts(hour + dt.timedelta(hours=1)), "Usage", "", description, "Usage-Based",
                price, price, price, price, price, price, "1", "Hours", "1", "Hours", "Standard",
                provider, publisher, publisher, shape.region, shape.region, f"{shape.region}a",
                host.resource_id, host.name, "Virtual Machine", "Compute", service,
                shape.instance_type, f"{shape.instance_type}:on-demand", f"{account}-ml",
                "ml-training", tags,
            ]  # fmt: skip


def _ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
