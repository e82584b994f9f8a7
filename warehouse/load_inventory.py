"""Idempotent loads of inventory, instance-type shapes and prices.

Each loader is an upsert on the table's natural key, in one transaction: loading the same rows
twice changes nothing, and a failure leaves nothing half-written. The record types here are the
canonical frames collectors hand over; collectors import them, never the other way round.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from warehouse.schema import instance_types, prices, resources

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class InstanceTypeRecord:
    """The GPU shape of one instance type. ``gpu_count`` counts whole GPUs: a fractional slice
    (AWS g6f, GCP g4-standard-6) reports 0, as the AWS API does, with the slice's memory."""

    provider: str
    instance_type: str
    gpu_count: int
    gpu_model: str | None
    gpu_memory_bytes: int | None  # per GPU
    vcpus: int | None
    memory_bytes: int | None
    source: str


@dataclass(frozen=True, slots=True)
class PriceRecord:
    provider: str
    region: str  # a region, or an availability zone for per-AZ spot prices
    sku: str  # instance type or storage class
    pricing_model: str  # on_demand | spot | commitment_1y | commitment_3y
    unit: str  # hour | month | GB-month
    price: Decimal
    currency: str
    effective_at: dt.datetime
    source: str  # API name, or snapshot-<provider>-YYYY-MM-DD


@dataclass(frozen=True, slots=True)
class ResourceRecord:
    provider: str
    resource_id: str
    account_id: str | None = None
    region: str | None = None
    name: str | None = None
    instance_type: str | None = None
    gpu_count: int | None = None
    gpu_model: str | None = None
    gpu_memory_bytes: int | None = None
    lifecycle: str | None = None  # on_demand | spot | reserved
    tags: dict[str, str] = field(default_factory=dict)
    owner: str | None = None
    team: str | None = None
    launched_at: dt.datetime | None = None
    state: str | None = None


PRICE_KEY = ("provider", "region", "sku", "pricing_model", "effective_at", "source")


@dataclass(frozen=True, slots=True)
class LoadCounts:
    shapes: int = 0
    prices: int = 0
    resources: int = 0


def load_inventory(
    engine: Engine,
    *,
    shapes: Iterable[InstanceTypeRecord] = (),
    price_records: Iterable[PriceRecord] = (),
    resource_records: Iterable[ResourceRecord] = (),
    updated_at: dt.datetime | None = None,
) -> LoadCounts:
    """Upsert shapes, prices and resources together, in one transaction."""
    shape_rows = [asdict(record) for record in shapes]
    price_rows = [_price_row(record) for record in price_records]
    resource_rows = [asdict(record) for record in resource_records]
    if resource_rows:
        if updated_at is None:
            raise ValueError("updated_at is required when loading resources")
        for row in resource_rows:
            row["updated_at"] = updated_at
    with engine.begin() as connection:
        return LoadCounts(
            shapes=_upsert(connection, instance_types, shape_rows, key=_SHAPE_KEY),
            prices=_upsert(connection, prices, price_rows, key=PRICE_KEY),
            resources=_upsert(connection, resources, resource_rows, key=_RESOURCE_KEY),
        )


def upsert_instance_types(engine: Engine, records: Iterable[InstanceTypeRecord]) -> int:
    return load_inventory(engine, shapes=records).shapes


def upsert_prices(engine: Engine, records: Iterable[PriceRecord]) -> int:
    return load_inventory(engine, price_records=records).prices


def upsert_resources(
    engine: Engine, records: Iterable[ResourceRecord], *, updated_at: dt.datetime
) -> int:
    return load_inventory(engine, resource_records=records, updated_at=updated_at).resources


_SHAPE_KEY = ("provider", "instance_type")
_RESOURCE_KEY = ("provider", "resource_id")


def _price_row(record: PriceRecord) -> dict[str, Any]:
    if not isinstance(record.price, Decimal):
        raise TypeError(f"price of {record.sku} must be a Decimal, got {record.price!r}")
    return asdict(record)


def _upsert(
    connection: Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
) -> int:
    """INSERT ... ON CONFLICT (key) DO UPDATE, which both dialects speak the same way."""
    if not rows:
        return 0
    dialect = connection.dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:  # pragma: no cover - the warehouse runs on these two only
        raise NotImplementedError(f"no upsert for dialect {dialect}")
    updated = {name: insert.excluded[name] for name in rows[0] if name not in key and name != "id"}
    statement = (
        insert.on_conflict_do_update(index_elements=list(key), set_=updated)
        if updated
        else insert.on_conflict_do_nothing(index_elements=list(key))
    )
    connection.execute(statement, list(rows))  # executemany: one statement, many rows
    return len(rows)
