"""A believable, deterministic GPU fleet for the demo: inventory, GPU telemetry (as the
``nvidia-smi --query-gpu`` log lines a host writes, or as hourly rows) and the matching hourly
FOCUS billing.

Behaviours the analytics must tell apart:
- ``busy``: every GPU works most hours;
- ``idle``: worked for a while, then nothing for the last days of the window;
- ``nightly``: a batch job busy 01:00-05:00 UTC only (idle by day, but not idle);
- ``underused``: 2 of the 8 GPUs work, the other 6 are paid for and idle;
- ``stopped``: went idle, then was terminated mid-window: its idle finding resolves and, with
  no bill after it, shows a realized saving a week later;
- ``reclaimed``: idle for nine days, then put back to work: its idle finding resolves, but the
  bill did not change, so its realized saving is zero;
- ``phantom``: an L40S that reports 100 % utilization with 0 bytes of memory used (the sensor
  artefact it shows while idle): idle, whatever the utilization says;
- ``mig``: an A100 in MIG mode: nvidia-smi prints ``[N/A]`` for utilization, so only memory
  is seen and no rule can call it idle or busy.

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
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, Literal

from warehouse.load_inventory import InstanceTypeRecord, PriceRecord, ResourceRecord

Pattern = Literal["busy", "idle", "nightly", "underused", "stopped", "reclaimed", "phantom", "mig"]
GIB = 1024**3
MIB = 1024**2
# The first hosts of every fleet, in this order, so a small fleet still shows each behaviour.
FIXED_PATTERNS: tuple[Pattern, ...] = (
    "idle", "nightly", "underused", "busy", "stopped", "reclaimed", "phantom", "mig",
)  # fmt: skip


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

_A100, _H100, _A100_PCIE = "NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3", "NVIDIA A100 80GB PCIe"
_USC1, _EUS = "us-central1", "eastus"
SHAPES: tuple[Shape, ...] = (
    Shape("aws", "p4d.24xlarge", "us-east-1", 8, _A100, 40, Decimal("21.957642"), _AWS),
    Shape("aws", "p5.48xlarge", "us-east-1", 8, _H100, 80, Decimal("55.04"), _AWS),
    Shape("aws", "g5.xlarge", "us-east-1", 1, "NVIDIA A10G", 24, Decimal("1.006"), _AWS),
    Shape("aws", "g5.12xlarge", "us-east-1", 4, "NVIDIA A10G", 24, Decimal("5.672"), _AWS),
    Shape("aws", "g6.xlarge", "us-east-1", 1, "NVIDIA L4", 24, Decimal("0.8048"), _AWS),
    Shape("gcp", "a2-highgpu-1g", _USC1, 1, _A100, 40, Decimal("3.673385"), _GCP),
    Shape("gcp", "g2-standard-4", _USC1, 1, "NVIDIA L4", 24, Decimal("0.706832255"), _GCP),
    Shape("gcp", "a3-highgpu-8g", _USC1, 8, _H100, 80, Decimal("88.4899999025753"), _GCP),
    Shape("azure", "Standard_NC24ads_A100_v4", _EUS, 1, _A100_PCIE, 80, Decimal("3.67"), _AZURE),
    Shape("azure", "Standard_NC4as_T4_v3", _EUS, 1, "Tesla T4", 16, Decimal("0.526"), _AZURE),
)  # fmt: skip
# Only the ``phantom`` host runs on the L40S, and no host on the 2-GPU H100 type: it is in the
# catalog as what an a3-highgpu-8g using 2 of its 8 GPUs should be resized to.
L40S = Shape("aws", "g6e.xlarge", "us-east-1", 1, "NVIDIA L40S", 48, Decimal("1.861"), _AWS)
A3_2G = Shape("gcp", "a3-highgpu-2g", _USC1, 2, _H100, 80, Decimal("22.1224999756438"), _GCP)
DEMO_SHAPES: tuple[Shape, ...] = (*SHAPES, L40S, A3_2G)
# Spot prices per hour where a public sample has them (gcp/pricing/pricing.yml, us-central1).
SPOT_PRICES = {
    "a2-highgpu-1g": Decimal("1.92802"),
    "g2-standard-4": Decimal("0.397336"),
    "a3-highgpu-8g": Decimal("50.6095408219178"),
    "a3-highgpu-2g": Decimal("12.6523852054795"),
}
# The ``workload`` tag each pattern's owners would set (the spot rule reads it).
WORKLOAD_TAGS = {"nightly": "batch"}
# Hosts whose behaviour is built around one shape.
_FIXED_SHAPES = {
    "nightly": "a2-highgpu-1g",  # a batch job on a type with a public spot price
    "underused": "a3-highgpu-8g",  # 2 of 8 H100s: the 2-GPU type is the cheaper fit
    "stopped": "p4d.24xlarge",
    "reclaimed": "a2-highgpu-1g",
    "phantom": "g6e.xlarge",
    "mig": "Standard_NC24ads_A100_v4",
}
# Hours before as_of (the demo's 14-day history runs at 12:00 UTC each day, as_of is midnight):
# ``stopped`` idles from 22 days out and is terminated 9.5 days out, so its finding resolves
# at the next day's run and the week after that resolution is over and billed before as_of;
# ``reclaimed`` idles from 20 to 11 days out.
STOPPED_IDLE_SINCE_HOURS = 22 * 24
STOPPED_TERMINATED_HOURS = 9 * 24 + 12
RECLAIMED_IDLE_SINCE_HOURS = 20 * 24
RECLAIMED_RESUMED_HOURS = 11 * 24

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
    "g6e.xlarge": "g6e",
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
    idle_since_hours: int  # idle, stopped, reclaimed: hours before as_of when work stopped
    resumed_hours: int = 0  # reclaimed: hours before as_of when work started again
    terminated_hours: int = 0  # stopped: hours before as_of when it was terminated (0: running)

    @property
    def tags(self) -> dict[str, str]:
        workload = WORKLOAD_TAGS.get(self.pattern, self.pattern)
        return {"team": self.team, "owner": self.owner, "workload": workload}

    def runs_in(self, hours_left: int) -> bool:
        """Whether the host existed in the hour starting ``hours_left`` hours before as_of."""
        return self.terminated_hours == 0 or hours_left > self.terminated_hours


def generate_fleet(*, seed: int = 7, host_count: int = 30) -> list[Host]:
    """``host_count`` hosts; the first follow :data:`FIXED_PATTERNS`, so a small fleet still
    shows every behaviour it has room for (4 hosts: idle, nightly, underused, busy)."""
    if host_count < 4:
        raise ValueError("a demo fleet needs at least 4 hosts, one per basic pattern")
    rng = random.Random(seed)
    multi_gpu = [shape for shape in SHAPES if shape.gpu_count > 1]
    by_type = {shape.instance_type: shape for shape in DEMO_SHAPES}
    hosts: list[Host] = []
    for index in range(host_count):
        pattern: Pattern
        if index < len(FIXED_PATTERNS):
            pattern = FIXED_PATTERNS[index]
        else:
            pattern = rng.choices(("busy", "idle", "nightly", "underused"), (5, 2, 2, 2))[0]
        if pattern == "underused":
            shape = rng.choice(multi_gpu)
        else:  # most GPU hosts are small inference and notebook boxes, a few are 8-GPU
            shape = rng.choices(SHAPES, [8 // shape.gpu_count for shape in SHAPES])[0]
        if index < len(FIXED_PATTERNS):
            shape = by_type.get(_FIXED_SHAPES.get(pattern, ""), shape)
        team = rng.choice(sorted(TEAMS))
        name = f"{team}-{SLUGS[shape.instance_type]}-{index:02d}"
        resource_id = _resource_id(shape, name, rng)
        owner = rng.choice(TEAMS[team])
        idle_since = rng.randint(4, 21) * 24 if pattern == "idle" else 0
        if pattern == "stopped":
            idle_since = STOPPED_IDLE_SINCE_HOURS
        elif pattern == "reclaimed":
            idle_since = RECLAIMED_IDLE_SINCE_HOURS
        hosts.append(
            Host(
                shape=shape,
                resource_id=resource_id,
                name=name,
                pattern=pattern,
                team=team,
                owner=owner,
                idle_since_hours=idle_since,
                resumed_hours=RECLAIMED_RESUMED_HOURS if pattern == "reclaimed" else 0,
                terminated_hours=STOPPED_TERMINATED_HOURS if pattern == "stopped" else 0,
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


def gpu_utilization(
    host: Host, gpu: int, hour: dt.datetime, hours_left: int, rng: random.Random
) -> float | None:
    """One reading of one GPU; None where nvidia-smi prints [N/A] (MIG)."""
    if host.pattern == "busy":
        return round(rng.uniform(62, 98), 1)
    if host.pattern == "nightly":
        return round(rng.uniform(85, 99), 1) if 1 <= hour.hour < 5 else 0.0
    if host.pattern == "underused":
        return round(rng.uniform(55, 95), 1) if gpu < 2 else 0.0
    if host.pattern == "phantom":
        return 100.0
    if host.pattern == "mig":
        return None
    # idle, stopped, reclaimed: real work until it stopped, then nothing (until it resumed)
    working = hours_left > host.idle_since_hours or hours_left <= host.resumed_hours
    return round(rng.uniform(40, 90), 1) if working else 0.0


def memory_used(host: Host, util: float | None, total: int) -> int:
    """Bytes held: with work, a share of the card; idle, none (no CUDA context); the phantom
    L40S holds none while claiming 100 %; the MIG slices hold about half."""
    if host.pattern == "mig":
        return total // 2
    if host.pattern == "phantom" or not util:
        return 0
    return int(total * (0.6 + util / 300))


def gpu_hourly_rows(
    hosts: list[Host], *, as_of: dt.datetime, days: int = 30, seed: int = 7
) -> Iterator[dict[str, Any]]:
    """One row per GPU per hour, shaped like the ``gpu_hourly`` table (source ``dcgm``).

    The demo itself loads telemetry from :func:`nvidia_smi_lines` through the nvidia-smi
    ingest; these ready-made rows are for tests that need a warehouse without that path.
    """
    rng = random.Random(seed)
    window = hours(as_of=as_of, days=days)
    for host in hosts:
        shape = host.shape
        total = shape.gpu_memory_gib * GIB
        for gpu in range(shape.gpu_count):
            for position, hour in enumerate(window):
                if not host.runs_in(len(window) - position):
                    continue
                util = gpu_utilization(host, gpu, hour, len(window) - position, rng)
                used = memory_used(host, util, total)
                yield {
                    "source": "dcgm",
                    "provider": shape.provider,
                    "resource_id": host.resource_id,
                    "gpu_id": str(gpu),
                    "hour": hour,
                    "gpu_model": shape.gpu_model,
                    "mig_profile": None,
                    "util_avg": util,
                    "util_max": None if util is None else min(100.0, round(util * 1.08, 1)),
                    "engine_active_avg": None,
                    "engine_active_max": None,
                    "mem_used_avg_bytes": used,
                    "mem_used_max_bytes": used,
                    "mem_total_bytes": total,
                    "power_avg_watts": power_draw(host, util),
                    "sample_count": 60,  # one scrape a minute
                    "labels": None,
                }


def power_draw(host: Host, util: float | None) -> float:
    if host.pattern == "mig":
        return 180.0
    if host.pattern == "phantom":
        return 35.0  # the board draws idle power while the counter says 100 %
    return round(60 + 3.5 * (util or 0.0), 1)


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
            state="terminated" if host.terminated_hours else "running",
        )
        for host in hosts
    ]


def instance_type_records(shapes: Sequence[Shape] = SHAPES) -> list[InstanceTypeRecord]:
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
        for shape in shapes
    ]


_PRICE_SNAPSHOTS = {
    "aws": "snapshot-aws-2026-07-20",
    "gcp": "snapshot-gcp-2026-07-30",
    "azure": "illustrative-azure",
}


def price_records(
    *, effective_at: dt.datetime, shapes: Sequence[Shape] = SHAPES
) -> list[PriceRecord]:
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
        for shape in shapes
    ]


def spot_price_records(*, effective_at: dt.datetime) -> list[PriceRecord]:
    """The public spot prices of :data:`SPOT_PRICES`, as the GCP catalog collector stores them."""
    by_type = {shape.instance_type: shape for shape in DEMO_SHAPES}
    return [
        PriceRecord(
            provider="gcp",
            region=by_type[sku].region,
            sku=sku,
            pricing_model="spot",
            unit="hour",
            price=price,
            currency="USD",
            effective_at=effective_at,
            source=_PRICE_SNAPSHOTS["gcp"],
        )
        for sku, price in SPOT_PRICES.items()
    ]
