"""A realistic FOCUS 1.2 CSV at benchmark scale: one month, three billing accounts, hourly rows.

The mix follows what an AI team's AWS bill looks like: GPU instance hours (p4d, p5, g5, g6),
CPU instance hours, S3 and EBS storage, a few credits (negative), with tags on most rows and two
provider ``x_`` columns. Generation is vectorised (numpy + Arrow) so a million rows take seconds.
Prices come from ``shared/data/aws/ondemand-prices`` figures, rounded as AWS rounds them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

# (service, category, sku, description, unit, unit price, instance type or storage class)
_PRODUCTS: list[tuple[str, str, str, str, str, str, str]] = [
    (
        "Amazon Elastic Compute Cloud",
        "Compute",
        "P4DGPU",
        "p4d.24xlarge On Demand Linux Instance Hour",
        "Hours",
        "21.957642",
        "p4d.24xlarge",
    ),
    (
        "Amazon Elastic Compute Cloud",
        "Compute",
        "P5GPU",
        "p5.48xlarge On Demand Linux Instance Hour",
        "Hours",
        "55.04",
        "p5.48xlarge",
    ),
    (
        "Amazon Elastic Compute Cloud",
        "Compute",
        "G5GPU4X",
        "$1.624 per On Demand Linux g5.4xlarge Instance Hour",
        "Hours",
        "1.624",
        "g5.4xlarge",
    ),
    (
        "Amazon Elastic Compute Cloud",
        "Compute",
        "G6GPU1X",
        "g6.xlarge On Demand Linux Instance Hour",
        "Hours",
        "0.8048",
        "g6.xlarge",
    ),
    (
        "Amazon Elastic Compute Cloud",
        "Compute",
        "M5L",
        "m5.large On Demand Linux Instance Hour",
        "Hours",
        "0.096",
        "m5.large",
    ),
    (
        "Amazon Simple Storage Service",
        "Storage",
        "S3STD",
        "$0.023 per GB-Mo for storage used",
        "GB-Mo",
        "0.023",
        "STANDARD",
    ),
    (
        "Amazon Simple Storage Service",
        "Storage",
        "S3IA",
        "$0.0125 per GB-Mo Standard-IA",
        "GB-Mo",
        "0.0125",
        "STANDARD_IA",
    ),
    (
        "Amazon Elastic Block Store",
        "Storage",
        "EBSGP3",
        "$0.08 per GB-month of gp3 storage",
        "GB-Mo",
        "0.08",
        "gp3",
    ),
]
_WEIGHTS = np.array([0.06, 0.02, 0.14, 0.10, 0.28, 0.22, 0.08, 0.10])
_ACCOUNTS = [
    ("123456789012", "research"),
    ("210987654321", "platform"),
    ("000111222333", "inference"),
]
_REGIONS = [
    ("us-east-1", "US East (N. Virginia)"),
    ("us-west-2", "US West (Oregon)"),
    ("eu-west-1", "Europe (Ireland)"),
]
_TEAMS = ["nlp", "vision", "search", "platform", "recsys", "speech", None]
_ENVIRONMENTS = ["prod", "dev", "staging"]


def generate_focus_csv(path: Path, *, rows: int, seed: int = 7, chunk_rows: int = 200_000) -> Path:
    """Write ``rows`` FOCUS rows to ``path`` (CSV, header included) in bounded chunks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tags_pool = _tags_pool(rng)
    with pa_csv.CSVWriter(str(path), _schema()) as writer:
        for start in range(0, rows, chunk_rows):
            writer.write_table(_chunk(rng, min(chunk_rows, rows - start), start, tags_pool))
    return path


def _schema() -> pa.Schema:
    names = [
        "AvailabilityZone",
        "BilledCost",
        "BillingAccountId",
        "BillingAccountName",
        "BillingCurrency",
        "BillingPeriodEnd",
        "BillingPeriodStart",
        "ChargeCategory",
        "ChargeClass",
        "ChargeDescription",
        "ChargeFrequency",
        "ChargePeriodEnd",
        "ChargePeriodStart",
        "CommitmentDiscountId",
        "ConsumedQuantity",
        "ConsumedUnit",
        "ContractedCost",
        "ContractedUnitPrice",
        "EffectiveCost",
        "InvoiceIssuerName",
        "ListCost",
        "ListUnitPrice",
        "PricingCategory",
        "PricingQuantity",
        "PricingUnit",
        "ProviderName",
        "PublisherName",
        "RegionId",
        "RegionName",
        "ResourceId",
        "ResourceName",
        "ResourceType",
        "ServiceCategory",
        "ServiceName",
        "SkuId",
        "SkuPriceId",
        "SubAccountId",
        "SubAccountName",
        "Tags",
        "x_UsageType",
        "x_InstanceType",
    ]
    return pa.schema([(name, pa.string()) for name in names])


def _tags_pool(rng: np.random.Generator) -> list[str | None]:
    pool: list[str | None] = [None] * 20  # some rows are untagged
    for index in range(300):
        team = _TEAMS[index % len(_TEAMS)]
        tags = {"application": f"app-{index % 60}", "environment": _ENVIRONMENTS[index % 3]}
        if team:
            tags["team"] = team
            tags["owner"] = f"{team}-lead@example.com"
        pool.append(json.dumps(tags))
    return pool


def _pick(rng: np.random.Generator, values: list, index: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(index))


def _money(values: np.ndarray, scale: int = 10) -> pa.Array:
    decimals = pc.cast(pa.array(values), pa.decimal128(24, scale), safe=False)
    return pc.cast(decimals, pa.string())


_RESOURCES = 4000


def _resource_attributes(tags_pool: list[str | None]) -> dict[str, np.ndarray]:
    """What stays fixed for one resource over the month in a real bill: its product, account,
    region and tags. Drawing these per row instead would make every line item its own group, a
    bill no provider produces (and one that no daily rollup could shrink)."""
    fixed = np.random.default_rng(20260720)
    return {
        "product": fixed.choice(len(_PRODUCTS), size=_RESOURCES, p=_WEIGHTS),
        "account": fixed.integers(0, len(_ACCOUNTS), size=_RESOURCES),
        "region": fixed.integers(0, len(_REGIONS), size=_RESOURCES),
        "tags": fixed.integers(0, len(tags_pool), size=_RESOURCES),
    }


def _chunk(rng: np.random.Generator, n: int, start: int, tags_pool: list[str | None]) -> pa.Table:
    resource = rng.integers(0, _RESOURCES, size=n)
    attributes = _resource_attributes(tags_pool)
    product = attributes["product"][resource]
    account = attributes["account"][resource]
    region = attributes["region"][resource]
    hour = rng.integers(0, 30 * 24, size=n)
    column = list(zip(*_PRODUCTS, strict=True))
    price = np.array([float(p) for p in column[5]])[product]
    is_storage = np.isin(product, [5, 6, 7])
    quantity = np.where(is_storage, rng.gamma(2.0, 40.0, size=n).round(4), 1.0)
    list_cost = (price * quantity).round(10)
    credit = rng.random(n) < 0.002
    billed = np.where(credit, -list_cost, list_cost)
    effective = np.where(
        product <= 1, (billed * 0.62).round(10), billed
    )  # p4d/p5 on a savings plan
    starts = pa.array(np.datetime64("2024-09-01T00:00:00") + hour.astype("timedelta64[h]"))
    ends = pa.array(np.datetime64("2024-09-01T01:00:00") + hour.astype("timedelta64[h]"))
    iso = "%Y-%m-%dT%H:%M:%SZ"
    constant = lambda value: pa.array([value] * n, pa.string())  # noqa: E731
    region_ids = [r[0] for r in _REGIONS]
    resource_ids = pc.binary_join_element_wise(
        "arn:aws:ec2:",
        _pick(rng, region_ids, region),
        ":instance/i-0",
        pc.cast(pa.array(resource + 10**9), pa.string()),
        "",
    )
    columns = {
        "AvailabilityZone": pc.binary_join_element_wise(_pick(rng, region_ids, region), "a", ""),
        "BilledCost": _money(billed),
        "BillingAccountId": _pick(rng, [a[0] for a in _ACCOUNTS], account),
        "BillingAccountName": _pick(rng, [a[1] for a in _ACCOUNTS], account),
        "BillingCurrency": constant("USD"),
        "BillingPeriodEnd": constant("2024-10-01T00:00:00Z"),
        "BillingPeriodStart": constant("2024-09-01T00:00:00Z"),
        "ChargeCategory": pa.array(np.where(credit, "Credit", "Usage")),
        "ChargeClass": pa.nulls(n, pa.string()),
        "ChargeDescription": _pick(rng, list(column[3]), product),
        "ChargeFrequency": constant("Usage-Based"),
        "ChargePeriodEnd": pc.strftime(pc.cast(ends, pa.timestamp("s")), format=iso),
        "ChargePeriodStart": pc.strftime(pc.cast(starts, pa.timestamp("s")), format=iso),
        "CommitmentDiscountId": pc.if_else(
            pa.array(product <= 1), "arn:aws:savingsplans::sp-0001", pa.scalar(None, pa.string())
        ),
        "ConsumedQuantity": _money(quantity, 4),
        "ConsumedUnit": _pick(rng, list(column[4]), product),
        "ContractedCost": _money(effective),
        "ContractedUnitPrice": _pick(rng, list(column[5]), product),
        "EffectiveCost": _money(effective),
        "InvoiceIssuerName": constant("Amazon Web Services, Inc."),
        "ListCost": _money(list_cost),
        "ListUnitPrice": _pick(rng, list(column[5]), product),
        "PricingCategory": pa.array(np.where(product <= 1, "Committed", "Standard")),
        "PricingQuantity": _money(quantity, 4),
        "PricingUnit": _pick(rng, list(column[4]), product),
        "ProviderName": constant("AWS"),
        "PublisherName": constant("Amazon Web Services, Inc."),
        "RegionId": _pick(rng, region_ids, region),
        "RegionName": _pick(rng, [r[1] for r in _REGIONS], region),
        "ResourceId": resource_ids,
        "ResourceName": pa.nulls(n, pa.string()),
        "ResourceType": pa.array(np.where(is_storage, "Storage", "Instance")),
        "ServiceCategory": _pick(rng, list(column[1]), product),
        "ServiceName": _pick(rng, list(column[0]), product),
        "SkuId": _pick(rng, list(column[2]), product),
        "SkuPriceId": pc.binary_join_element_wise(_pick(rng, list(column[2]), product), ".OD", ""),
        "SubAccountId": _pick(rng, [a[0] for a in _ACCOUNTS], account),
        "SubAccountName": _pick(rng, [a[1] for a in _ACCOUNTS], account),
        "Tags": _pick(rng, tags_pool, attributes["tags"][resource]),
        "x_UsageType": _pick(rng, list(column[2]), product),
        "x_InstanceType": _pick(rng, list(column[6]), product),
    }
    return pa.table(columns, schema=_schema())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    generate_focus_csv(args.path, rows=args.rows)


if __name__ == "__main__":
    main()
