"""The demo fleet's catalog: the GPU instance types it runs on and their hourly prices, as
inventory (``instance_types``) and price (``prices``) records.

Prices are real public on-demand list prices where a public sample exists (AWS us-east-1 from
``aws/ondemand-prices/derived_ondemand_us-east-1.csv``, GCP us-central1 from
``gcp/pricing/pricing.yml``); ``tests/test_demo.py`` checks them against those files. No public
Azure GPU price sample exists, so the two Azure prices are illustrative and labelled so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from warehouse.load_inventory import InstanceTypeRecord, PriceRecord

GIB = 1024**3
MIB = 1024**2


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
