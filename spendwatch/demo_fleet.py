"""A believable, deterministic GPU fleet for the demo: inventory, hourly GPU telemetry and the
matching hourly FOCUS billing.

Four behaviours the analytics must tell apart:
- ``busy``: every GPU works most hours;
- ``idle``: worked for a while, then nothing for the last days of the window;
- ``nightly``: a batch job busy 01:00-05:00 UTC only (idle by day, but not idle);
- ``underused``: 2 of the 8 GPUs work, the other 6 are paid for and idle.

Prices are real public on-demand list prices where a public sample exists (AWS us-east-1 from
``aws/ondemand-prices/derived_ondemand_us-east-1.csv``, GCP us-central1 from
``gcp/pricing/pricing.yml``); ``tests/test_demo.py`` checks them against those files. No public
Azure GPU price sample exists, so the two Azure prices are illustrative and labelled so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Literal

from warehouse.load_inventory import InstanceTypeRecord, PriceRecord, ResourceRecord

Pattern = Literal["busy", "idle", "nightly", "underused"]
GIB = 1024**3


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    provider: str  # short code used by inventory and telemetry: aws | gcp | azure
    instance_type: str
    region: str
    gpu_count: int
    gpu_model: str
    gpu_memory_gib: int
    hourly_price: Decimal  # on-demand, USD
    price_source: str


_AWS = "aws/ondemand-prices/derived_ondemand_us-east-1.csv"
_GCP = "gcp/pricing/pricing.yml (us-central1)"
_AZURE = "illustrative: no public Azure GPU price sample"

SHAPES: tuple[Shape, ...] = (
    Shape(
        "aws",
        "p4d.24xlarge",
        "us-east-1",
        8,
        "NVIDIA A100-SXM4-40GB",
        40,
        Decimal("21.957642"),
        _AWS,
    ),
    Shape(
        "aws", "p5.48xlarge", "us-east-1", 8, "NVIDIA H100 80GB HBM3", 80, Decimal("55.04"), _AWS
    ),
    Shape("aws", "g5.xlarge", "us-east-1", 1, "NVIDIA A10G", 24, Decimal("1.006"), _AWS),
    Shape("aws", "g5.12xlarge", "us-east-1", 4, "NVIDIA A10G", 24, Decimal("5.672"), _AWS),
    Shape("aws", "g6.xlarge", "us-east-1", 1, "NVIDIA L4", 24, Decimal("0.8048"), _AWS),
    Shape(
        "gcp",
        "a2-highgpu-1g",
        "us-central1",
        1,
        "NVIDIA A100-SXM4-40GB",
        40,
        Decimal("3.673385"),
        _GCP,
    ),
    Shape("gcp", "g2-standard-4", "us-central1", 1, "NVIDIA L4", 24, Decimal("0.706832255"), _GCP),
    Shape(
        "gcp",
        "a3-highgpu-8g",
        "us-central1",
        8,
        "NVIDIA H100 80GB HBM3",
        80,
        Decimal("88.4899999025753"),
        _GCP,
    ),
    Shape(
        "azure",
        "Standard_NC24ads_A100_v4",
        "eastus",
        1,
        "NVIDIA A100 80GB PCIe",
        80,
        Decimal("3.67"),
        _AZURE,
    ),
    Shape("azure", "Standard_NC4as_T4_v3", "eastus", 1, "Tesla T4", 16, Decimal("0.526"), _AZURE),
)

# FOCUS ProviderName, ServiceName and billing account per provider code.
FOCUS_PROVIDER = {
    "aws": ("AWS", "Amazon Elastic Compute Cloud", "Amazon Web Services, Inc.", "210987654321"),
    "gcp": ("Google Cloud", "Compute Engine", "Google Cloud", "01A2B3-C4D5E6-F7A8B9"),
    "azure": ("Microsoft", "Virtual Machines", "Microsoft", "8611537"),
}
# Short host-name parts, so the heatmap's host labels stay readable.
SLUGS = {
    "p4d.24xlarge": "p4d",
    "p5.48xlarge": "p5",
    "g5.xlarge": "g5",
    "g5.12xlarge": "g5x12",
    "g6.xlarge": "g6",
    "a2-highgpu-1g": "a2",
    "g2-standard-4": "g2",
    "a3-highgpu-8g": "a3",
    "Standard_NC24ads_A100_v4": "nc-a100",
    "Standard_NC4as_T4_v3": "nc-t4",
}
TEAMS = {
    "nlp": ("alice@example.com", "bob@example.com"),
    "vision": ("chen@example.com",),
    "research": ("dana@example.com", "erik@example.com"),
    "recsys": ("farah@example.com",),
    "platform": ("gus@example.com",),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Host:
    shape: Shape
    resource_id: str
    name: str
    pattern: Pattern
    team: str
    owner: str
    idle_since_hours: int  # for ``idle``: hours before as_of when work stopped

    @property
    def tags(self) -> dict[str, str]:
        return {"team": self.team, "owner": self.owner, "workload": self.pattern}


def generate_fleet(*, seed: int = 7, host_count: int = 30) -> list[Host]:
    """``host_count`` hosts; the first four cover every pattern so a small fleet still shows all."""
    if host_count < 4:
        raise ValueError("a demo fleet needs at least 4 hosts, one per pattern")
    rng = random.Random(seed)
    multi_gpu = [shape for shape in SHAPES if shape.gpu_count > 1]
    hosts: list[Host] = []
    for index in range(host_count):
        pattern: Pattern
        if index < 4:
            pattern = ("idle", "nightly", "underused", "busy")[index]
        else:
            pattern = rng.choices(("busy", "idle", "nightly", "underused"), (5, 2, 2, 2))[0]
        shape = rng.choice(multi_gpu if pattern == "underused" else SHAPES)
        team = rng.choice(sorted(TEAMS))
        name = f"{team}-{SLUGS[shape.instance_type]}-{index:02d}"
        hosts.append(
            Host(
                shape=shape,
                resource_id=_resource_id(shape, name, rng),
                name=name,
                pattern=pattern,
                team=team,
                owner=rng.choice(TEAMS[team]),
                idle_since_hours=rng.randint(4, 21) * 24 if pattern == "idle" else 0,
            )
        )
    return hosts


def _resource_id(shape: Shape, name: str, rng: random.Random) -> str:
    if shape.provider == "aws":
        return f"i-0{rng.getrandbits(64):016x}"
    if shape.provider == "gcp":
        return f"projects/acme-ml/zones/{shape.region}-a/instances/{name}"
    return (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ml/providers/"
        f"Microsoft.Compute/virtualMachines/{name}"
    )


def hours(*, as_of: dt.datetime, days: int) -> list[dt.datetime]:
    """Every whole UTC hour in ``[as_of - days, as_of)``."""
    end = as_of.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return [end - dt.timedelta(hours=h) for h in range(days * 24, 0, -1)]


def _utilization(
    host: Host, gpu: int, hour: dt.datetime, hours_left: int, rng: random.Random
) -> float:
    if host.pattern == "busy":
        return round(rng.uniform(62, 98), 1)
    if host.pattern == "nightly":
        return round(rng.uniform(85, 99), 1) if 1 <= hour.hour < 5 else 0.0
    if host.pattern == "underused":
        return round(rng.uniform(55, 95), 1) if gpu < 2 else 0.0
    # idle: real work until it stopped, then nothing
    return round(rng.uniform(40, 90), 1) if hours_left > host.idle_since_hours else 0.0


def gpu_hourly_rows(
    hosts: list[Host], *, as_of: dt.datetime, days: int = 30, seed: int = 7
) -> Iterator[dict[str, Any]]:
    """One row per GPU per hour, shaped like the ``gpu_hourly`` table (source ``dcgm``)."""
    rng = random.Random(seed)
    window = hours(as_of=as_of, days=days)
    for host in hosts:
        shape = host.shape
        total = shape.gpu_memory_gib * GIB
        for gpu in range(shape.gpu_count):
            for position, hour in enumerate(window):
                util = _utilization(host, gpu, hour, len(window) - position, rng)
                used = int(total * (0.6 + util / 300)) if util > 0 else 0
                yield {
                    "source": "dcgm",
                    "provider": shape.provider,
                    "resource_id": host.resource_id,
                    "gpu_id": str(gpu),
                    "hour": hour,
                    "gpu_model": shape.gpu_model,
                    "mig_profile": None,
                    "util_avg": util,
                    "util_max": min(100.0, round(util * 1.08, 1)) if util else 0.0,
                    "engine_active_avg": None,
                    "engine_active_max": None,
                    "mem_used_avg_bytes": used,
                    "mem_used_max_bytes": used,
                    "mem_total_bytes": total,
                    "power_avg_watts": round(60 + 3.5 * util, 1),
                    "sample_count": 60,  # one scrape a minute
                    "labels": None,
                }


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
        for hour in hours(as_of=as_of, days=days):
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


def resource_records(
    hosts: list[Host], *, as_of: dt.datetime, days: int = 30
) -> list[ResourceRecord]:
    """Inventory as an EC2/GCE/Azure inventory collector records it."""
    launched = hours(as_of=as_of, days=days)[0]
    return [
        ResourceRecord(
            provider=host.shape.provider,
            resource_id=host.resource_id,
            account_id=FOCUS_PROVIDER[host.shape.provider][3],
            region=host.shape.region,
            name=host.name,
            instance_type=host.shape.instance_type,
            gpu_count=host.shape.gpu_count,
            gpu_model=host.shape.gpu_model,
            gpu_memory_bytes=host.shape.gpu_memory_gib * GIB,
            lifecycle="on_demand",
            tags=host.tags,
            owner=host.owner,
            team=host.team,
            launched_at=launched,
            state="running",
        )
        for host in hosts
    ]


def instance_type_records() -> list[InstanceTypeRecord]:
    return [
        InstanceTypeRecord(
            provider=shape.provider,
            instance_type=shape.instance_type,
            gpu_count=shape.gpu_count,
            gpu_model=shape.gpu_model,
            gpu_memory_bytes=shape.gpu_memory_gib * GIB,
            vcpus=None,
            memory_bytes=None,
            source="demo",
        )
        for shape in SHAPES
    ]


_PRICE_SNAPSHOTS = {
    "aws": "snapshot-aws-2026-07-20",
    "gcp": "snapshot-gcp-2026-07-30",
    "azure": "illustrative-azure",
}


def price_records(*, effective_at: dt.datetime) -> list[PriceRecord]:
    return [
        PriceRecord(
            provider=shape.provider,
            region=shape.region,
            sku=shape.instance_type,
            pricing_model="on_demand",
            unit="hour",
            price=shape.hourly_price,
            currency="USD",
            effective_at=effective_at,
            source=_PRICE_SNAPSHOTS[shape.provider],
        )
        for shape in SHAPES
    ]
