"""The ``gpu_daily`` rollup: ``gpu_hourly`` per source, resource, provider and UTC day.

Readers that only need day-level GPU-hours and utilization (the dashboard's GPU fleet page)
read it instead of scanning every hourly row. It is always recomputed from ``gpu_hourly``,
never accumulated: ``load_gpu_hourly`` upserts, so a reloaded hour would otherwise count twice.
Both functions run inside the caller's transaction, so readers see the old or the new rollup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.queries.days import utc_day
from warehouse.schema import gpu_daily, gpu_hourly

# (source, resource_id, UTC day): the unit a load invalidates and the rollup replaces.
DayGroup = tuple[str, str, dt.date]


def day_group(row: dict[str, Any]) -> DayGroup:
    """The group a ``gpu_hourly`` row (aware ``hour``) falls in."""
    return (row["source"], row["resource_id"], row["hour"].astimezone(dt.UTC).date())


def _aggregate(dialect_name: str) -> sa.Select[Any]:
    column = gpu_hourly.c
    day = utc_day(column.hour, dialect_name)
    return sa.select(
        column.source,
        column.provider,
        column.resource_id,
        day.label("day"),
        sa.func.count().label("gpu_hours"),
        sa.func.sum(column.util_avg).label("util_sum"),
        sa.func.count(column.util_avg).label("util_samples"),
        sa.func.max(column.util_max).label("util_max"),
    ).group_by(column.source, column.provider, column.resource_id, day)


_COLUMNS = [
    "source",
    "provider",
    "resource_id",
    "day",
    "gpu_hours",
    "util_sum",
    "util_samples",
    "util_max",
]


def rebuild_gpu_daily(connection: Connection) -> int:
    """Recompute the whole rollup from ``gpu_hourly``; returns the rows it now holds."""
    connection.execute(gpu_daily.delete())
    connection.execute(
        gpu_daily.insert().from_select(_COLUMNS, _aggregate(connection.dialect.name))
    )
    return int(connection.scalar(sa.select(sa.func.count()).select_from(gpu_daily)) or 0)


def refresh_gpu_daily(connection: Connection, groups: Iterable[DayGroup]) -> int:
    """Recompute just these (source, resource_id, day) groups; returns how many were asked."""
    params = [
        {
            "g_source": source,
            "g_resource": resource_id,
            "g_day": day,
            "g_lower": dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC),
            "g_upper": dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC),
        }
        for source, resource_id, day in sorted(set(groups))
    ]
    if not params:
        return 0
    hourly = gpu_hourly.c
    delete = gpu_daily.delete().where(
        gpu_daily.c.source == sa.bindparam("g_source"),
        gpu_daily.c.resource_id == sa.bindparam("g_resource"),
        gpu_daily.c.day == sa.bindparam("g_day", type_=sa.Date()),
    )
    # Bounding by hour (not by the computed day) lets both dialects use the (resource_id, hour)
    # index; the bounds are the group's UTC day, so the grouping yields that one day.
    select = _aggregate(connection.dialect.name).where(
        hourly.source == sa.bindparam("g_source"),
        hourly.resource_id == sa.bindparam("g_resource"),
        hourly.hour >= sa.bindparam("g_lower", type_=gpu_hourly.c.hour.type),
        hourly.hour < sa.bindparam("g_upper", type_=gpu_hourly.c.hour.type),
    )
    connection.execute(delete, params)
    connection.execute(gpu_daily.insert().from_select(_COLUMNS, select), params)
    return len(params)
