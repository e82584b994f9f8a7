"""The on-demand hourly list price of every inventoried resource, for the rules that need a price
when billing has none: its machine type's price in its region, plus its attached GPUs' where the
provider bills those apart (see :mod:`warehouse.queries.catalog`); and the two parts' prices on
their own, for the rules that change how many GPUs are attached or price them on spot."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from warehouse.queries.catalog import (
    ATTACHED_GPU_MACHINE_PREFIXES,
    GPU_SKU_PREFIX,
    joined_source,
)
from warehouse.queries.gpu import _frame
from warehouse.schema import prices, resources


def catalog_on_demand_prices(connection: Connection, *, as_of: dt.datetime) -> pd.DataFrame:
    """Per inventoried resource: latest on-demand hourly price of its instance type in its region,
    plus GPU count x the latest on-demand price of its attached GPUs where those are billed
    apart (see :mod:`warehouse.queries.catalog`). ``priced_as`` says what was priced, e.g.
    ``n1-standard-8 + 2 x gpu:T4``; resources with an unpriced part are left out."""
    r, p = resources.c, prices.c
    gpu_price = prices.alias("gpu_price")
    g = gpu_price.c
    attached = bills_attached_gpus_sql()
    on_demand_hourly = [g.pricing_model == "on_demand", g.unit == "hour", g.effective_at <= as_of]
    query = (
        sa.select(
            r.resource_id,
            r.instance_type,
            r.region,
            p.price,
            p.currency,
            p.effective_at,
            p.source.label("price_source"),
            attached.label("attached"),
            r.gpu_count,
            g.sku.label("gpu_sku"),
            g.price.label("gpu_price"),
            g.currency.label("gpu_currency"),
            g.effective_at.label("gpu_effective_at"),
            g.source.label("gpu_source"),
        )
        .select_from(
            resources.join(
                prices,
                sa.and_(
                    p.provider == r.provider,
                    p.region == r.region,
                    p.sku == r.instance_type,
                    p.pricing_model == "on_demand",
                    p.unit == "hour",
                    p.effective_at <= as_of,
                ),
            ).outerjoin(
                gpu_price,
                sa.and_(
                    attached,
                    g.provider == r.provider,
                    g.region == r.region,
                    g.sku == sa.literal(GPU_SKU_PREFIX) + r.gpu_model,
                    *on_demand_hourly,
                ),
            )
        )
        .order_by(r.resource_id, p.effective_at.desc(), p.source, g.effective_at.desc(), g.source)
    )
    frame = _frame(connection.execute(query))
    columns = [*_CATALOG_COLUMNS, "priced_as"]
    if frame.empty:
        return pd.DataFrame(columns=columns, dtype=object)
    latest = frame.drop_duplicates("resource_id", keep="first")
    rows = [_with_attached_gpus(row) for row in latest.to_dict("records")]
    return pd.DataFrame([row for row in rows if row is not None], columns=columns, dtype=object)


_CATALOG_COLUMNS = ("resource_id", "instance_type", "region", "price", "currency",
                    "effective_at", "price_source")  # fmt: skip


def _with_attached_gpus(row: Mapping[Any, Any]) -> dict[str, Any] | None:
    """The machine price as is, or machine + count x GPU for attached GPUs (None: unpriced)."""
    out = {name: row[name] for name in _CATALOG_COLUMNS}
    out["priced_as"] = row["instance_type"]
    if not row["attached"]:
        return out
    count = row["gpu_count"]
    if not count or row["gpu_price"] is None or row["gpu_currency"] != row["currency"]:
        return None
    out |= {
        "price": row["price"] + count * row["gpu_price"],
        "effective_at": max(row["effective_at"], row["gpu_effective_at"]),
        "price_source": joined_source(row["price_source"], row["gpu_source"]),
        "priced_as": f"{row['instance_type']} + {count} x {row['gpu_sku']}",
    }
    return out


def bills_attached_gpus_sql() -> ColumnElement[bool]:
    """:func:`warehouse.queries.catalog.bills_attached_gpus` in SQL, for a resource with GPUs
    (counted or named)."""
    r = resources.c
    machine = sa.or_(
        sa.false(),
        *(
            sa.and_(r.provider == provider, r.instance_type.startswith(prefix))
            for provider, prefixes in ATTACHED_GPU_MACHINE_PREFIXES.items()
            for prefix in prefixes
        ),
    )
    return sa.and_(machine, sa.or_(r.gpu_count > 0, r.gpu_model.is_not(None)))


def attached_gpu_part_prices(connection: Connection, *, as_of: dt.datetime) -> pd.DataFrame:
    """The on-demand hourly price in force at ``as_of`` of each part that inventoried VMs with
    attached GPUs are billed for: their machine types and their GPUs (``gpu:<model>``), per
    provider and region; a live API price before the shipped snapshot, as
    :func:`warehouse.queries.spend.gpu_type_catalog` picks.

    Columns: provider, region, sku, price, currency, effective_at, price_source.
    """
    r, p = resources.c, prices.c
    attached = sa.select(r.instance_type, r.gpu_model).where(bills_attached_gpus_sql()).subquery()
    parts = sa.union(
        sa.select(attached.c.instance_type.label("sku")),
        sa.select((sa.literal(GPU_SKU_PREFIX) + attached.c.gpu_model).label("sku")).where(
            attached.c.gpu_model.is_not(None)
        ),
    ).subquery()
    is_snapshot = sa.case((p.source.like("snapshot-%"), 1), else_=0)
    query = (
        sa.select(
            p.provider,
            p.region,
            p.sku,
            p.price,
            p.currency,
            p.effective_at,
            p.source.label("price_source"),
        )
        .where(
            p.sku.in_(sa.select(parts.c.sku)),
            p.pricing_model == "on_demand",
            p.unit == "hour",
            p.effective_at <= as_of,
        )
        .order_by(p.provider, p.region, p.sku, is_snapshot, p.effective_at.desc(), p.source)
    )
    frame = _frame(connection.execute(query))
    if frame.empty:
        return pd.DataFrame(columns=[*_PART_COLUMNS], dtype=object)
    latest = frame.drop_duplicates(["provider", "region", "sku"], keep="first")
    return latest.reset_index(drop=True)


_PART_COLUMNS = ("provider", "region", "sku", "price", "currency", "effective_at", "price_source")
