"""Reads for the GPU rules. Aggregation happens in SQL; Python only sees one row per resource.

Windows are half-open ``[start, end)`` on ``gpu_hourly.hour`` (the start of the hour) and on
``cost_line_items.charge_period_start``. Cost reads take whole UTC days from the daily rollup
(``cost_daily``) and only the partial days at a window's ends from the line items.

What makes a GPU *active* in an hour is decided here, in :func:`gpu_hour_is_active`, because it
must run inside the database at fleet scale; ``analytics.idle_gpu`` documents the same rule.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from warehouse.rollups import DAY, partial_days, period_hours, whole_days
from warehouse.schema import (
    cost_daily,
    cost_line_items,
    gpu_hourly,
    instance_types,
    resources,
)
from warehouse.types import decimal_sum

# Refunds and corrections are charge_class "Correction"; credits are charge_category "Credit".
# Neither is what keeping the resource running costs.
SPEND_CATEGORY = "Usage"
_CHUNK = 500  # bound parameters per IN (...) list


def gpu_hour_is_active(active_util_percent: float) -> ColumnElement[bool]:
    """True for a GPU-hour row that shows work.

    * utilization above the threshold counts, unless the GPU held **no memory at all** that
      hour (``mem_used_max_bytes = 0``): kernels cannot run without a CUDA context, and a
      context always takes device memory, so such a reading is a sensor artefact (the L40S
      reports 100% while idle with 0 bytes used);
    * DCGM engine-active above the threshold always counts (it is the only signal under MIG).
    """
    c = gpu_hourly.c
    util_credible = sa.and_(
        c.util_max.is_not(None),
        sa.or_(c.mem_used_max_bytes.is_(None), c.mem_used_max_bytes > 0),
    )
    return sa.or_(
        sa.and_(util_credible, c.util_max > active_util_percent),
        sa.and_(c.engine_active_max.is_not(None), c.engine_active_max > active_util_percent),
    )


def gpu_hour_is_suspect(active_util_percent: float) -> ColumnElement[bool]:
    """Utilization above the threshold with zero memory used: not believed (see above)."""
    c = gpu_hourly.c
    return sa.and_(c.util_max > active_util_percent, c.mem_used_max_bytes == 0)


def usage_spend(table: sa.Table = cost_line_items) -> ColumnElement[bool]:
    """Charges that are spend on running a resource: Usage, minus corrections (refunds).

    ``table`` is ``cost_line_items`` or ``cost_daily``, whose groups keep both columns.
    """
    c = table.c
    return sa.and_(
        c.charge_category == SPEND_CATEGORY,
        sa.or_(c.charge_class.is_(None), c.charge_class != "Correction"),
    )


def _hours_where(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return sa.func.count(sa.distinct(sa.case((condition, gpu_hourly.c.hour))))


def gpu_window_summary(
    connection: Connection,
    *,
    start: dt.datetime,
    end: dt.datetime,
    active_util_percent: float,
    high_confidence_sources: Sequence[str],
) -> pd.DataFrame:
    """One row per resource with GPU samples in ``[start, end)``.

    ``hours_observed`` counts hours with a usable signal (utilization or engine-active);
    ``active_hours`` hours in which at least one GPU was active; ``suspect_hours`` hours with a
    utilization reading that was not believed; ``engine_only_hours`` hours judged on
    engine-active alone (MIG); ``high_source_hours`` hours seen by a high-confidence source.
    """
    c = gpu_hourly.c
    signal = sa.or_(c.util_max.is_not(None), c.engine_active_max.is_not(None))
    query = (
        sa.select(
            c.resource_id,
            sa.func.max(c.provider).label("provider"),
            sa.func.count(sa.distinct(c.hour)).label("hours_with_samples"),
            _hours_where(signal).label("hours_observed"),
            _hours_where(gpu_hour_is_active(active_util_percent)).label("active_hours"),
            _hours_where(gpu_hour_is_suspect(active_util_percent)).label("suspect_hours"),
            _hours_where(sa.and_(c.util_max.is_(None), c.engine_active_max.is_not(None))).label(
                "engine_only_hours"
            ),
            _hours_where(c.source.in_(list(high_confidence_sources))).label("high_source_hours"),
            sa.func.count(sa.distinct(c.gpu_id)).label("gpus_reporting"),
            sa.func.max(c.gpu_model).label("gpu_model"),
            sa.func.max(c.util_max).label("max_util_percent"),
            sa.func.max(c.engine_active_max).label("max_engine_active_percent"),
            sa.func.max(c.mem_used_max_bytes).label("max_memory_used_bytes"),
            sa.func.max(c.mem_total_bytes).label("memory_total_bytes"),
            sa.func.min(c.source).label("source_min"),
            sa.func.max(c.source).label("source_max"),
        )
        .where(c.hour >= start, c.hour < end)
        .group_by(c.resource_id)
    )
    return _frame(connection.execute(query))


def idle_streak_starts(
    connection: Connection,
    resource_ids: Iterable[str],
    *,
    since: dt.datetime,
    until: dt.datetime,
    active_util_percent: float,
) -> dict[str, dt.datetime]:
    """Per resource: the first sampled hour after its last active hour in ``[since, until)``.

    A resource never active since ``since`` gets its first sampled hour, so "idle since" never
    claims more than the telemetry shows.
    """
    c = gpu_hourly.c
    result: dict[str, dt.datetime] = {}
    ids = list(dict.fromkeys(resource_ids))
    for offset in range(0, len(ids), _CHUNK):
        chunk = ids[offset : offset + _CHUNK]
        in_range = sa.and_(c.resource_id.in_(chunk), c.hour >= since, c.hour < until)
        last_active = (
            sa.select(c.resource_id, sa.func.max(c.hour).label("last_active"))
            .where(in_range, gpu_hour_is_active(active_util_percent))
            .group_by(c.resource_id)
            .subquery()
        )
        query = (
            sa.select(c.resource_id, sa.func.min(c.hour).label("idle_since"))
            .select_from(
                gpu_hourly.outerjoin(last_active, last_active.c.resource_id == c.resource_id)
            )
            .where(
                in_range,
                sa.or_(last_active.c.last_active.is_(None), c.hour > last_active.c.last_active),
            )
            .group_by(c.resource_id)
        )
        result.update({row.resource_id: row.idle_since for row in connection.execute(query)})
    return result


def _period_hours(connection: Connection, start: Any, end: Any) -> ColumnElement[Any]:
    return period_hours(connection, start, end)


def hourly_effective_costs(
    connection: Connection, *, start: dt.datetime, end: dt.datetime
) -> pd.DataFrame:
    """Per resource billed in ``[start, end)``: effective cost of Usage charges and hours billed.

    Hours billed are the hours covered by the resource's distinct charge periods, so an hourly
    feed and a daily feed give the same rate: the cost of keeping the resource for an hour.
    Credits, refunds and corrections are left out: they are not what running it costs.

    Whole UTC days come from ``cost_daily``; only the partial days at the window's ends are
    read from the line items.
    """
    days, edges = whole_days(start, end), partial_days(start, end)
    d, c = cost_daily.c, cost_line_items.c
    parts: list[sa.Select[Any]] = []
    if days is not None:
        parts.append(
            sa.select(
                d.resource_id, d.effective_cost, d.billing_currency, d.provider_name,
                d.sub_account_id, d.region_id,
            ).where(usage_spend(cost_daily), d.resource_id.is_not(None), *_days(d.day, days))
        )  # fmt: skip
    for edge in edges:
        parts.append(
            sa.select(
                c.resource_id, c.effective_cost, c.billing_currency, c.provider_name,
                c.sub_account_id, c.region_id,
            ).where(usage_spend(), c.resource_id.is_not(None), *_days(c.charge_period_start, edge))
        )  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=[*_COST_COLUMNS, "hours_billed"], dtype=object)
    spend = sa.union_all(*parts).subquery()
    s = spend.c
    query = sa.select(
        s.resource_id,
        decimal_sum(s.effective_cost).label("effective_cost"),
        sa.func.max(s.billing_currency).label("currency"),
        sa.func.count(sa.distinct(s.billing_currency)).label("currencies"),
        sa.func.max(s.provider_name).label("provider_name"),
        sa.func.max(s.sub_account_id).label("account_id"),
        sa.func.max(s.region_id).label("region"),
    ).group_by(s.resource_id)
    frame = _frame(connection.execute(query))
    hours = _hours_billed(connection, days=days, edges=edges)
    frame["hours_billed"] = [round(float(hours.get(rid, 0.0)), 6) for rid in frame["resource_id"]]
    return frame


_COST_COLUMNS = ("resource_id", "effective_cost", "currency", "currencies", "provider_name",
                 "account_id", "region")  # fmt: skip


def _days(column: Any, window: tuple[dt.datetime, dt.datetime]) -> list[ColumnElement[bool]]:
    return [column >= window[0], column < window[1]]


def _hours_billed(
    connection: Connection,
    *,
    days: tuple[dt.datetime, dt.datetime] | None,
    edges: list[tuple[dt.datetime, dt.datetime]],
) -> dict[str, float]:
    """Hours of distinct Usage charge periods per resource (see hourly_effective_costs).

    A rollup row's usage_hours are distinct within its group; a resource-day with usage in
    two groups (say two services) could hold the same period twice, so such days are counted
    from the line items instead.
    """
    d, c = cost_daily.c, cost_line_items.c
    hours: dict[str, float] = defaultdict(float)
    periods: set[tuple[str, dt.datetime, dt.datetime]] = set()
    if days is not None:
        per_day = (
            sa.select(
                d.resource_id,
                d.day,
                sa.func.sum(d.usage_hours).label("hours"),
                sa.func.count().label("groups"),
            )
            .where(
                usage_spend(cost_daily),
                d.resource_id.is_not(None),
                d.usage_hours.is_not(None),
                *_days(d.day, days),
            )
            .group_by(d.resource_id, d.day)
            .subquery()
        )
        single = (
            sa.select(per_day.c.resource_id, sa.func.sum(per_day.c.hours))
            .where(per_day.c.groups == 1)
            .group_by(per_day.c.resource_id)
        )
        for resource_id, total in connection.execute(single):
            hours[resource_id] += float(total)
        shared = sa.select(per_day.c.resource_id, per_day.c.day).where(per_day.c.groups > 1)
        for resource_id, day in connection.execute(shared):
            periods |= _periods(connection, [c.resource_id == resource_id], (day, day + DAY))
    for edge in edges:
        periods |= _periods(connection, [c.resource_id.is_not(None)], edge)
    for resource_id, begin, finish in periods:
        hours[resource_id] += (finish - begin) / dt.timedelta(hours=1)
    return hours


def _periods(
    connection: Connection,
    where: list[ColumnElement[bool]],
    window: tuple[dt.datetime, dt.datetime],
) -> set[tuple[str, dt.datetime, dt.datetime]]:
    c = cost_line_items.c
    query = (
        sa.select(c.resource_id, c.charge_period_start, c.charge_period_end)
        .where(
            usage_spend(), c.charge_period_end.is_not(None), *where,
            *_days(c.charge_period_start, window),
        )
        .distinct()
    )  # fmt: skip
    return {(row[0], row[1], row[2]) for row in connection.execute(query)}


def gpu_resources_select(*columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """Inventoried resources with GPUs: who and where they are, their GPU count and model (their
    own, else their instance type's), then ``columns`` of ``resources``."""
    r, t = resources.c, instance_types.c
    gpu_count = sa.func.coalesce(r.gpu_count, t.gpu_count, 0)
    return (
        sa.select(
            r.resource_id,
            r.provider,
            r.account_id,
            r.region,
            r.instance_type,
            gpu_count.label("gpu_count"),
            sa.func.coalesce(r.gpu_model, t.gpu_model).label("gpu_model"),
            *columns,
        )
        .select_from(
            resources.outerjoin(
                instance_types,
                sa.and_(t.provider == r.provider, t.instance_type == r.instance_type),
            )
        )
        .where(gpu_count > 0)
    )


def _gpu_inventory_select() -> sa.Select[Any]:
    r = resources.c
    return gpu_resources_select(r.lifecycle, r.owner, r.team, r.state)


def gpu_inventory(connection: Connection) -> pd.DataFrame:
    """Inventoried resources with GPUs (own gpu_count, else their instance type's)."""
    return _frame(connection.execute(_gpu_inventory_select()))


def billed_gpu_resources_without_telemetry(
    connection: Connection, *, start: dt.datetime, end: dt.datetime
) -> pd.DataFrame:
    """GPU resources with a Usage charge overlapping ``[start, end)`` and no GPU sample in it.

    Overlap rather than containment: a daily charge for yesterday counts for a 24 h window that
    ends this morning, because billing feeds arrive hours late.
    """
    c, g = cost_line_items.c, gpu_hourly.c
    billed = (
        sa.select(c.resource_id)
        .where(
            usage_spend(),
            c.resource_id.is_not(None),
            c.charge_period_start < end,
            sa.func.coalesce(c.charge_period_end, c.charge_period_start) > start,
        )
        .distinct()
        .subquery()
    )
    monitored = sa.exists().where(
        g.resource_id == resources.c.resource_id, g.hour >= start, g.hour < end
    )
    query = (
        _gpu_inventory_select()
        .join(billed, billed.c.resource_id == resources.c.resource_id)
        .where(~monitored)
        .where(
            sa.or_(resources.c.state.is_(None), resources.c.state.notin_(["terminated", "deleted"]))
        )
    )
    return _frame(connection.execute(query))


def _frame(result: sa.CursorResult[Any]) -> pd.DataFrame:
    # object dtype keeps Decimal money and aware datetimes as the Python values they are.
    return pd.DataFrame([tuple(row) for row in result], columns=list(result.keys()), dtype=object)


def usage_cost_between(
    connection: Connection, resource_id: str, *, start: dt.datetime, end: dt.datetime
) -> Decimal:
    """Effective cost of the resource's Usage charges starting in ``[start, end)`` (0 if none)."""
    c = cost_line_items.c
    total = connection.scalar(
        sa.select(decimal_sum(c.effective_cost)).where(
            c.resource_id == resource_id,
            usage_spend(),
            c.charge_period_start >= start,
            c.charge_period_start < end,
        )
    )
    return total if total is not None else Decimal(0)


def billing_complete_through(connection: Connection) -> dt.datetime | None:
    """The latest charge period end loaded from any feed: billing is known up to here."""
    return connection.scalar(sa.select(sa.func.max(cost_line_items.c.charge_period_end)))
