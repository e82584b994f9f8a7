"""Read helpers for the catalog: the GPU shape of an instance type, and its hourly price with the
price's source and date, so every figure built on it can say where it came from.

Compute Engine bills the GPUs attached to an N1 VM as their own SKU, per GPU-hour, on top of
the machine type ("Nvidia Tesla T4 GPU running in Americas"); every other GCE GPU machine type
(A2, A3, G2, G4) has its GPUs built into the machine-type price. Such a GPU's price is a row of
its own, ``sku`` = :func:`gpu_sku` of the model the inventory records (``gpu:T4``), and a VM
with attached GPUs costs machine type + GPU count x GPU price in its region. When either part
is missing the VM has no price: a machine-only figure would understate it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse.load_inventory import InstanceTypeRecord
from warehouse.schema import instance_types, prices, resources

GPU_SKU_PREFIX = "gpu:"
# Machine types whose GPUs are attached and billed apart, per provider (see the module doc).
ATTACHED_GPU_MACHINE_PREFIXES: dict[str, tuple[str, ...]] = {"gcp": ("n1-",)}


def gpu_sku(gpu_model: str) -> str:
    """The ``prices.sku`` of one attached GPU of ``gpu_model`` (the model inventory records)."""
    return GPU_SKU_PREFIX + gpu_model


def bills_attached_gpus(provider: str, instance_type: str | None) -> bool:
    """Whether this machine type's price leaves out its GPUs (they are attached, billed apart)."""
    prefixes = ATTACHED_GPU_MACHINE_PREFIXES.get(provider, ())
    return bool(instance_type) and str(instance_type).startswith(prefixes)


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


def gpu_shape(engine: Engine, *, provider: str, instance_type: str) -> InstanceTypeRecord | None:
    query = sa.select(instance_types).where(
        instance_types.c.provider == provider, instance_types.c.instance_type == instance_type
    )
    with engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    return InstanceTypeRecord(**row) if row else None


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
                model: _resource_price(connection, row, pricing_model=model, as_of=as_of)
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


def _resource_price(
    connection: Connection,
    resource: sa.RowMapping,
    *,
    pricing_model: str,
    as_of: dt.datetime | None,
) -> PriceQuote | None:
    """One resource's hourly price: its machine type's, plus its attached GPUs' where billed
    apart (None when either part is unknown)."""
    place = {"provider": resource["provider"], "region": resource["region"] or ""}
    machine = _hourly_price(
        connection,
        **place,
        instance_type=resource["instance_type"] or "",
        pricing_model=pricing_model,
        as_of=as_of,
    )
    if machine is None or not bills_attached_gpus(resource["provider"], resource["instance_type"]):
        return machine
    count, model = resource["gpu_count"], resource["gpu_model"]
    if not count and model is None:
        return machine  # no GPU attached
    if not count or model is None:
        return None  # GPUs of a type the inventory could not name or count
    gpu = _hourly_price(
        connection, **place, instance_type=gpu_sku(model), pricing_model=pricing_model, as_of=as_of
    )
    if gpu is None or gpu.currency != machine.currency:
        return None
    return PriceQuote(
        provider=machine.provider,
        region=machine.region,
        sku=f"{machine.sku} + {count} x {gpu.sku}",
        pricing_model=pricing_model,
        unit="hour",
        price=machine.price + count * gpu.price,
        currency=machine.currency,
        effective_at=max(machine.effective_at, gpu.effective_at),
        source=joined_source(machine.source, gpu.source),
    )


def joined_source(machine: str, gpu: str) -> str:
    """The source of a machine + GPUs price: one name when both parts share it."""
    return machine if machine == gpu else f"{machine} + {gpu}"
