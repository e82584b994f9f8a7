"""The dashboard's GPU reads: the telemetry window, GPU-hours per host and day, the GPU
inventory and one host's hourly series.

Date ranges are whole UTC days, ``start`` and ``end`` both inclusive.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.queries.days import as_date, min_max
from warehouse.schema import gpu_daily, gpu_hourly, resources


def gpu_window(connection: Connection) -> tuple[dt.date, dt.date] | None:
    """First and last day with GPU telemetry; None when there is none."""
    first, last = min_max(connection, gpu_hourly.c.hour)
    return None if first is None else (as_date(first), as_date(last))


def gpu_host_days(
    connection: Connection,
    *,
    start: dt.date,
    end: dt.date,
    provider: str | None = None,
) -> list[dict[str, Any]]:
    """Per host and UTC day: GPU-hours observed, summed and counted utilization.

    Each gpu_hourly row is one GPU for one hour that was paid for, so ``gpu_hours`` is what was
    bought; ``util_sum / 100`` is the GPU-hours actually used. Hours with no utilization (MIG)
    count as bought but not in ``util_samples``. Read from the ``gpu_daily`` rollup (the same
    sums per source and day, kept in step by ``load_gpu_hourly``), summed over sources.
    """
    column = gpu_daily.c
    query = (
        sa.select(
            column.resource_id,
            column.provider,
            column.day,
            sa.func.sum(column.gpu_hours).label("gpu_hours"),
            sa.func.sum(column.util_sum).label("util_sum"),
            sa.func.sum(column.util_samples).label("util_samples"),
        )
        .where(column.day >= start, column.day <= end)
        .group_by(column.resource_id, column.provider, column.day)
        .order_by(column.resource_id, column.day)
    )
    if provider:
        query = query.where(column.provider == provider)
    return [
        {
            "resource_id": row.resource_id,
            "provider": row.provider,
            "day": as_date(row.day),
            "gpu_hours": int(row.gpu_hours),
            "util_sum": float(row.util_sum or 0.0),
            "util_samples": int(row.util_samples),
        }
        for row in connection.execute(query)
    ]


def gpu_resources(connection: Connection) -> list[dict[str, Any]]:
    """Inventory rows of GPU resources, to label hosts and show owners."""
    column = resources.c
    query = sa.select(
        column.provider,
        column.resource_id,
        column.name,
        column.instance_type,
        column.gpu_count,
        column.gpu_model,
        column.owner,
        column.team,
        column.region,
    ).where(column.gpu_count > 0)
    return [dict(row._mapping) for row in connection.execute(query)]


def gpu_hourly_series(
    connection: Connection, *, resource_id: str, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """One resource's GPU telemetry per hour in ``[start, end)``, averaged over its GPUs."""
    column = gpu_hourly.c
    query = (
        sa.select(
            column.hour,
            sa.func.count().label("gpus"),
            sa.func.avg(column.util_avg).label("util_avg"),
            sa.func.max(column.util_max).label("util_max"),
            sa.func.max(column.mem_used_max_bytes).label("mem_used_max_bytes"),
        )
        .where(column.resource_id == resource_id, column.hour >= start, column.hour < end)
        .group_by(column.hour)
        .order_by(column.hour)
    )
    return [dict(row._mapping) for row in connection.execute(query)]
