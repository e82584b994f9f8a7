"""Read helpers for the catalog: the GPU shape of an instance type, and its hourly price with the
price's source and date, so every figure built on it can say where it came from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse.schema import instance_types, prices, resources


@dataclass(frozen=True, slots=True)
class GpuShape:
    provider: str
    instance_type: str
    gpu_count: int
    gpu_model: str | None
    gpu_memory_bytes: int | None  # per GPU
    vcpus: int | None
    memory_bytes: int | None
    source: str


@dataclass(frozen=True, slots=True)
class PriceQuote:
    provider: str
    region: str
    sku: str
    pricing_model: str
    unit: str
    price: Decimal
    currency: str
    effective_at: dt.datetime
    source: str

    @property
    def is_snapshot(self) -> bool:
        return self.source.startswith("snapshot-")


@dataclass(frozen=True, slots=True)
class PricedGpuResource:
    provider: str
    resource_id: str
    region: str | None
    instance_type: str | None
    lifecycle: str | None
    gpu_count: int | None
    gpu_model: str | None
    gpu_memory_bytes: int | None
    on_demand: PriceQuote | None
    spot: PriceQuote | None


def gpu_shape(engine: Engine, *, provider: str, instance_type: str) -> GpuShape | None:
    query = sa.select(instance_types).where(
        instance_types.c.provider == provider, instance_types.c.instance_type == instance_type
    )
    with engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    return GpuShape(**row) if row else None


def hourly_price(
    engine: Engine,
    *,
    provider: str,
    region: str,
    instance_type: str,
    pricing_model: str = "on_demand",
    as_of: dt.datetime | None = None,
) -> PriceQuote | None:
    """The hourly price in force at ``as_of`` (default: the newest known).

    A price read from a live API wins over the shipped snapshot whatever their dates: the API's
    date is when the price took effect (AWS: often years ago), the snapshot's is when it was
    copied, so comparing the two dates would wrongly prefer the copy.
    """
    with engine.connect() as connection:
        return _hourly_price(
            connection,
            provider=provider,
            region=region,
            instance_type=instance_type,
            pricing_model=pricing_model,
            as_of=as_of,
        )


def inventory_instance_types(engine: Engine, *, provider: str, region: str) -> list[str]:
    """The distinct instance types the inventory holds in one region: what needs a price."""
    query = (
        sa.select(resources.c.instance_type)
        .where(
            resources.c.provider == provider,
            resources.c.region == region,
            resources.c.instance_type.is_not(None),
        )
        .distinct()
        .order_by(resources.c.instance_type)
    )
    with engine.connect() as connection:
        return [str(name) for name in connection.execute(query).scalars()]


def priced_gpu_resources(
    engine: Engine, *, provider: str | None = None, as_of: dt.datetime | None = None
) -> list[PricedGpuResource]:
    """Every inventoried GPU resource with its on-demand and spot hourly price (or None)."""
    query = sa.select(resources).where(resources.c.gpu_model.is_not(None))
    if provider is not None:
        query = query.where(resources.c.provider == provider)
    out = []
    with engine.connect() as connection:
        for row in connection.execute(query.order_by(resources.c.resource_id)).mappings():
            quotes = {
                model: _hourly_price(
                    connection,
                    provider=row["provider"],
                    region=row["region"] or "",
                    instance_type=row["instance_type"] or "",
                    pricing_model=model,
                    as_of=as_of,
                )
                for model in ("on_demand", "spot")
            }
            out.append(
                PricedGpuResource(
                    provider=row["provider"],
                    resource_id=row["resource_id"],
                    region=row["region"],
                    instance_type=row["instance_type"],
                    lifecycle=row["lifecycle"],
                    gpu_count=row["gpu_count"],
                    gpu_model=row["gpu_model"],
                    gpu_memory_bytes=row["gpu_memory_bytes"],
                    on_demand=quotes["on_demand"],
                    spot=quotes["spot"],
                )
            )
    return out


def _hourly_price(
    connection: Connection,
    *,
    provider: str,
    region: str,
    instance_type: str,
    pricing_model: str,
    as_of: dt.datetime | None,
) -> PriceQuote | None:
    query = sa.select(prices).where(
        prices.c.provider == provider,
        prices.c.region == region,
        prices.c.sku == instance_type,
        prices.c.pricing_model == pricing_model,
        prices.c.unit == "hour",
    )
    if as_of is not None:
        query = query.where(prices.c.effective_at <= as_of)
    is_snapshot = sa.case((prices.c.source.like("snapshot-%"), 1), else_=0)
    query = query.order_by(is_snapshot, prices.c.effective_at.desc(), prices.c.source).limit(1)
    row = connection.execute(query).mappings().first()
    if row is None:
        return None
    return PriceQuote(**{name: row[name] for name in PriceQuote.__dataclass_fields__})
