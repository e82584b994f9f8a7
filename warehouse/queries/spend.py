"""Reads for the rules that put a price on how resources are used: ``spend_anomaly``,
``gpu_rightsizing`` and ``spot_candidate``. Aggregation happens in SQL; Python sees one row per
day and key, per GPU, or per run.

Windows are half-open ``[start, end)`` on ``gpu_hourly.hour`` and on
``cost_line_items.charge_period_start``; spend per day reads whole days from ``cost_daily``.
Spend is :func:`warehouse.queries.gpu.usage_spend`: credits, refunds and corrections are never
spend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from warehouse.queries.catalog import GPU_SKU_PREFIX
from warehouse.queries.gpu import (
    _frame,
    _period_hours,
    gpu_hour_is_active,
    gpu_resources_select,
    usage_spend,
)
from warehouse.queries.resource_prices import bills_attached_gpus_sql
from warehouse.rollups import partial_days, whole_days
from warehouse.schema import (
    cost_daily,
    cost_line_items,
    gpu_hourly,
    instance_types,
    prices,
    resources,
)
from warehouse.types import decimal_sum

_CHUNK = 500  # bound parameters per IN (...) list


def _utc_day(connection: Connection, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp, as ``YYYY-MM-DD`` text on both dialects."""
    if connection.dialect.name == "sqlite":
        return sa.func.substr(column, 1, 10)  # stored as naive UTC text
    return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")


def _hour_index(connection: Connection, column: Any) -> ColumnElement[Any]:
    """Whole hours since the epoch: consecutive hours differ by exactly 1."""
    if connection.dialect.name == "sqlite":
        return sa.cast(sa.func.strftime("%s", column), sa.Integer) / 3600
    return sa.cast(sa.func.floor(sa.func.extract("epoch", column) / 3600), sa.BigInteger)


# --- spend_anomaly ---------------------------------------------------------------------------
def daily_spend(connection: Connection, *, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Effective cost of usage per provider, account, service, currency and UTC day.

    Columns: provider, account_id, service, currency, day (``YYYY-MM-DD``), cost (Decimal).
    Whole days come from ``cost_daily``; a partial first or last day from the line items (a
    day is never read from both, so the rows need no second sum).
    """
    days = whole_days(start, end)
    rows = [] if days is None else _daily_rows(connection, cost_daily, "day", days)
    for edge in partial_days(start, end):
        rows += _daily_rows(connection, cost_line_items, "charge_period_start", edge)
    columns = ["provider", "account_id", "service", "currency", "day", "cost"]
    return pd.DataFrame(rows, columns=columns, dtype=object)


def _daily_rows(
    connection: Connection, table: sa.Table, time: str, window: tuple[dt.datetime, dt.datetime]
) -> list[tuple[Any, ...]]:
    c = table.c
    day = _utc_day(connection, c[time]).label("day")
    # Group on the bare columns and fill the gaps in Python: repeating COALESCE expressions in
    # GROUP BY costs SQLite a second evaluation per row, and only a few hundred groups remain.
    keys = (
        c.provider_name,
        c.sub_account_id,
        c.billing_account_id,
        c.service_name,
        c.service_category,
        c.billing_currency,
    )
    query = (
        sa.select(*keys, day, decimal_sum(c.effective_cost).label("cost"))
        .where(usage_spend(table), c[time] >= window[0], c[time] < window[1])
        .group_by(*keys, day)
    )
    return [
        (
            row.provider_name or "unknown",
            row.sub_account_id or row.billing_account_id or "",
            row.service_name or row.service_category or "unknown",
            row.billing_currency or "",
            row.day,
            row.cost,
        )
        for row in connection.execute(query)
    ]


# --- gpu_rightsizing ---------------------------------------------------------------------------
def _util(c: Any) -> ColumnElement[Any]:
    # Hourly average utilization; engine-active where utilization is absent (MIG).
    return sa.func.coalesce(c.util_avg, c.engine_active_avg)


def per_gpu_activity(
    connection: Connection,
    *,
    start: dt.datetime,
    end: dt.datetime,
    active_util_percent: float,
    high_util_percent: float,
) -> pd.DataFrame:
    """One row per GPU with samples in ``[start, end)``.

    Columns: resource_id, gpu_id, gpu_model, hours_observed, active_hours, peak_memory_bytes,
    util_hours (hours with a utilization value) and high_util_hours (of those, at or above
    ``high_util_percent``: enough to tell whether the p95 lies below it without sorting).
    """
    c = gpu_hourly.c
    signal = sa.or_(c.util_max.is_not(None), c.engine_active_max.is_not(None))
    util = _util(c)
    query = (
        sa.select(
            c.resource_id,
            c.gpu_id,
            sa.func.max(c.gpu_model).label("gpu_model"),
            sa.func.count(sa.distinct(sa.case((signal, c.hour)))).label("hours_observed"),
            sa.func.count(
                sa.distinct(sa.case((gpu_hour_is_active(active_util_percent), c.hour)))
            ).label("active_hours"),
            sa.func.max(c.mem_used_max_bytes).label("peak_memory_bytes"),
            sa.func.count(util).label("util_hours"),
            sa.func.sum(sa.case((util >= high_util_percent, 1), else_=0)).label("high_util_hours"),
        )
        .where(c.hour >= start, c.hour < end)
        .group_by(c.resource_id, c.gpu_id)
    )
    return _frame(connection.execute(query))


def utilization_samples(
    connection: Connection, resource_ids: Iterable[str], *, start: dt.datetime, end: dt.datetime
) -> dict[str, list[float]]:
    """Hourly utilization values per resource (all its GPUs): only for the few candidates."""
    c = gpu_hourly.c
    util = _util(c)
    out: dict[str, list[float]] = {}
    ids = list(dict.fromkeys(resource_ids))
    for offset in range(0, len(ids), _CHUNK):
        query = sa.select(c.resource_id, util.label("util")).where(
            c.resource_id.in_(ids[offset : offset + _CHUNK]),
            c.hour >= start,
            c.hour < end,
            util.is_not(None),
        )
        for row in connection.execute(query):
            out.setdefault(row.resource_id, []).append(float(row.util))
    return out


def gpu_type_catalog(connection: Connection, *, as_of: dt.datetime) -> pd.DataFrame:
    """Every instance type with GPUs and an hourly on-demand price, per provider and region.

    One row per (provider, region, instance_type): the price in force at ``as_of``, a live API
    price before the shipped snapshot (as :func:`warehouse.queries.catalog.hourly_price` does).
    Columns: provider, region, instance_type, gpu_count, gpu_model, gpu_memory_bytes, price,
    currency, effective_at, price_source.
    """
    t, p = instance_types.c, prices.c
    is_snapshot = sa.case((p.source.like("snapshot-%"), 1), else_=0)
    query = (
        sa.select(
            t.provider,
            p.region,
            t.instance_type,
            t.gpu_count,
            t.gpu_model,
            t.gpu_memory_bytes,
            p.price,
            p.currency,
            p.effective_at,
            p.source.label("price_source"),
        )
        .select_from(
            instance_types.join(
                prices,
                sa.and_(
                    p.provider == t.provider,
                    p.sku == t.instance_type,
                    p.pricing_model == "on_demand",
                    p.unit == "hour",
                    p.effective_at <= as_of,
                ),
            )
        )
        .where(t.gpu_count > 0)
        .order_by(t.provider, p.region, t.instance_type, is_snapshot, p.effective_at.desc())
    )
    frame = _frame(connection.execute(query))
    if frame.empty:
        return frame
    keys = ["provider", "region", "instance_type"]
    return frame.drop_duplicates(keys, keep="first").reset_index(drop=True)


# --- spot_candidate --------------------------------------------------------------------------
def on_demand_gpu_resources(connection: Connection) -> pd.DataFrame:
    """Running on-demand resources with GPUs, with their tags (JSON) and GPU shape."""
    r = resources.c
    query = gpu_resources_select(r.tags, r.owner, r.team).where(
        r.lifecycle == "on_demand",
        sa.or_(r.state.is_(None), r.state.notin_(["terminated", "deleted", "stopped"])),
    )
    return _frame(connection.execute(query))


def _runs(connection: Connection, hours: sa.Select[Any]) -> pd.DataFrame:
    """Contiguous stretches ("gaps and islands") of ``(resource_id, hour_index)`` rows."""
    distinct = hours.distinct().subquery()
    island = (
        distinct.c.hour_index
        - sa.func.row_number().over(
            partition_by=distinct.c.resource_id, order_by=distinct.c.hour_index
        )
    ).label("island")
    numbered = sa.select(distinct.c.resource_id, island).subquery()
    query = sa.select(numbered.c.resource_id, sa.func.count().label("run_hours")).group_by(
        numbered.c.resource_id, numbered.c.island
    )
    return _frame(connection.execute(query))


def telemetry_runs(connection: Connection, *, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """One row per run of an on-demand GPU resource: hours with GPU samples, back to back.

    Columns: resource_id, run_hours.
    """
    c, r = gpu_hourly.c, resources.c
    on_demand = sa.select(r.resource_id).where(r.lifecycle == "on_demand")
    hours = sa.select(c.resource_id, _hour_index(connection, c.hour).label("hour_index")).where(
        c.hour >= start, c.hour < end, c.resource_id.in_(on_demand)
    )
    return _runs(connection, hours)


def billed_runs(
    connection: Connection,
    resource_ids: Iterable[str],
    *,
    start: dt.datetime,
    end: dt.datetime,
) -> pd.DataFrame:
    """Runs from hourly usage charges, for resources that send no GPU telemetry.

    Only charges of at most one hour count: a daily line says nothing about when it ran.
    """
    c = cost_line_items.c
    ids = list(dict.fromkeys(resource_ids))
    frames = []
    for offset in range(0, len(ids), _CHUNK):
        hourly = sa.and_(
            c.charge_period_end.is_not(None),
            _period_hours(connection, c.charge_period_start, c.charge_period_end) <= 1.0001,
        )
        hours = sa.select(
            c.resource_id, _hour_index(connection, c.charge_period_start).label("hour_index")
        ).where(
            usage_spend(),
            c.resource_id.in_(ids[offset : offset + _CHUNK]),
            c.charge_period_start >= start,
            c.charge_period_start < end,
            hourly,
        )
        frames.append(_runs(connection, hours))
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=["resource_id", "run_hours"], dtype=object)
    return pd.concat(frames, ignore_index=True)


def spot_prices(connection: Connection, *, end: dt.datetime) -> pd.DataFrame:
    """Every hourly spot price known before ``end`` for the instance types on-demand GPU
    resources run, and for the GPUs attached to them where those are billed apart
    (``gpu:<model>``, see :mod:`warehouse.queries.catalog`).
    Columns: provider, region, sku, price, currency, effective_at, source."""
    p, r = prices.c, resources.c
    on_demand = r.lifecycle == "on_demand"
    types = sa.select(r.instance_type).where(on_demand, r.instance_type.is_not(None))
    attached_gpus = sa.select(sa.literal(GPU_SKU_PREFIX) + r.gpu_model).where(
        on_demand, bills_attached_gpus_sql(), r.gpu_model.is_not(None)
    )
    query = (
        sa.select(p.provider, p.region, p.sku, p.price, p.currency, p.effective_at, p.source)
        .where(
            p.pricing_model == "spot",
            p.unit == "hour",
            p.effective_at < end,
            sa.or_(p.sku.in_(types), p.sku.in_(attached_gpus)),
        )
        .order_by(p.provider, p.region, p.sku, p.effective_at)
    )
    return _frame(connection.execute(query))
