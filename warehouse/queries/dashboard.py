"""Read-only rollups for the dashboard: daily spend, GPU utilization per host and day, findings,
collector health.

Every function takes a connection and returns plain rows (dicts). Money comes back as
``Decimal`` summed with :class:`warehouse.types.decimal_sum`, never SQL ``SUM`` on SQLite.
Date ranges are whole UTC days, ``start`` and ``end`` both inclusive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.schema import collector_runs, cost_line_items, findings, gpu_hourly, resources
from warehouse.types import decimal_sum

SpendGrouping = Literal["provider", "service"]
_GROUP_COLUMNS = {
    "provider": cost_line_items.c.provider_name,
    "service": cost_line_items.c.service_name,
}


def utc_day(column: Any, dialect_name: str) -> Any:
    """The UTC calendar day of a timestamp column (PostgreSQL would use the session zone)."""
    if dialect_name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)  # SQLite stores naive UTC text


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    lower = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    upper = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return lower, upper


def _spend_filters(
    *, start: dt.date, end: dt.date, provider: str | None, currency: str | None
) -> list[Any]:
    lower, upper = _day_bounds(start, end)
    column = cost_line_items.c
    conditions: list[Any] = [
        column.charge_period_start >= lower,
        column.charge_period_start < upper,
    ]
    if provider:
        conditions.append(column.provider_name == provider)
    if currency:
        conditions.append(column.billing_currency == currency)
    return conditions


def spend_window(connection: Connection) -> dict[str, Any] | None:
    """First and last billed day, providers and currencies present; None for an empty warehouse."""
    column = cost_line_items.c
    first, last = connection.execute(
        sa.select(sa.func.min(column.charge_period_start), sa.func.max(column.charge_period_start))
    ).one()
    if first is None:
        return None
    providers = connection.scalars(
        sa.select(column.provider_name)
        .where(column.provider_name.is_not(None))
        .distinct()
        .order_by(column.provider_name)
    ).all()
    # The currency with the most rows first: it is the default view.
    currencies = connection.scalars(
        sa.select(column.billing_currency)
        .where(column.billing_currency.is_not(None))
        .group_by(column.billing_currency)
        .order_by(sa.func.count().desc(), column.billing_currency)
    ).all()
    return {
        "first_day": _as_date(first),
        "last_day": _as_date(last),
        "providers": list(providers),
        "currencies": list(currencies),
    }


def gpu_window(connection: Connection) -> tuple[dt.date, dt.date] | None:
    """First and last day with GPU telemetry; None when there is none."""
    first, last = connection.execute(
        sa.select(sa.func.min(gpu_hourly.c.hour), sa.func.max(gpu_hourly.c.hour))
    ).one()
    return None if first is None else (_as_date(first), _as_date(last))


def total_spend(
    connection: Connection,
    *,
    start: dt.date,
    end: dt.date,
    provider: str | None = None,
    currency: str | None = None,
) -> Decimal:
    """Billed cost over the range (exact)."""
    conditions = _spend_filters(start=start, end=end, provider=provider, currency=currency)
    total = connection.scalar(
        sa.select(decimal_sum(cost_line_items.c.billed_cost)).where(*conditions)
    )
    return total if total is not None else Decimal(0)


def daily_spend(
    connection: Connection,
    *,
    start: dt.date,
    end: dt.date,
    by: SpendGrouping,
    provider: str | None = None,
    currency: str | None = None,
) -> list[dict[str, Any]]:
    """Billed cost per UTC day and provider (or service): rows of day, key, cost."""
    day = utc_day(cost_line_items.c.charge_period_start, connection.dialect.name).label("day")
    key = _GROUP_COLUMNS[by].label("key")
    query = (
        sa.select(day, key, decimal_sum(cost_line_items.c.billed_cost).label("cost"))
        .where(*_spend_filters(start=start, end=end, provider=provider, currency=currency))
        .group_by(day, key)
        .order_by(day, key)
    )
    return [
        {"day": _as_date(row.day), "key": row.key or "(unknown)", "cost": row.cost or Decimal(0)}
        for row in connection.execute(query)
    ]


def spend_by_tag(
    connection: Connection,
    *,
    tag_key: str,
    start: dt.date,
    end: dt.date,
    provider: str | None = None,
    currency: str | None = None,
) -> list[dict[str, Any]]:
    """Billed cost per value of one tag (e.g. the team tag), largest first; untagged is None."""
    value = cost_line_items.c.tags[tag_key].as_string().label("value")
    query = (
        sa.select(value, decimal_sum(cost_line_items.c.billed_cost).label("cost"))
        .where(*_spend_filters(start=start, end=end, provider=provider, currency=currency))
        .group_by(value)
    )
    rows = [
        {"value": row.value, "cost": row.cost or Decimal(0)} for row in connection.execute(query)
    ]
    return sorted(rows, key=lambda row: row["cost"], reverse=True)


def top_services(
    connection: Connection,
    *,
    start: dt.date,
    end: dt.date,
    provider: str | None = None,
    currency: str | None = None,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """The services with the largest billed cost over the range."""
    column = cost_line_items.c
    cost = decimal_sum(column.billed_cost).label("cost")
    query = (
        sa.select(
            column.provider_name.label("provider"),
            column.service_name.label("service"),
            column.service_category.label("category"),
            cost,
            sa.func.count().label("line_items"),
        )
        .where(*_spend_filters(start=start, end=end, provider=provider, currency=currency))
        .group_by(column.provider_name, column.service_name, column.service_category)
    )
    rows = [dict(row._mapping) for row in connection.execute(query)]
    for row in rows:
        row["cost"] = row["cost"] or Decimal(0)
    rows.sort(key=lambda row: row["cost"], reverse=True)  # Decimal order; SQLite sorts text
    return rows[:limit]


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
    count as bought but not in ``util_samples``.
    """
    lower, upper = _day_bounds(start, end)
    column = gpu_hourly.c
    day = utc_day(column.hour, connection.dialect.name).label("day")
    query = (
        sa.select(
            column.resource_id,
            column.provider,
            day,
            sa.func.count().label("gpu_hours"),
            sa.func.sum(column.util_avg).label("util_sum"),
            sa.func.count(column.util_avg).label("util_samples"),
        )
        .where(column.hour >= lower, column.hour < upper)
        .group_by(column.resource_id, column.provider, day)
        .order_by(column.resource_id, day)
    )
    if provider:
        query = query.where(column.provider == provider)
    return [
        {
            "resource_id": row.resource_id,
            "provider": row.provider,
            "day": _as_date(row.day),
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


def finding_rows(
    connection: Connection,
    *,
    kinds: Sequence[str] = (),
    statuses: Sequence[str] = (),
    owners: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Findings with their evidence, largest saving first; empty filters mean all."""
    column = findings.c
    query = sa.select(findings)
    if kinds:
        query = query.where(column.kind.in_(list(kinds)))
    if statuses:
        query = query.where(column.status.in_(list(statuses)))
    if owners:
        query = query.where(column.owner.in_(list(owners)))
    rows = [dict(row._mapping) for row in connection.execute(query)]
    rows.sort(key=lambda row: (-row["monthly_savings"], row["id"]))
    return rows


def finding_facets(connection: Connection) -> dict[str, list[str]]:
    """Distinct kinds, statuses and owners, for filter choices."""
    column = findings.c
    return {
        name: [
            value
            for value in connection.scalars(
                sa.select(col).where(col.is_not(None)).distinct().order_by(col)
            )
        ]
        for name, col in (("kind", column.kind), ("status", column.status), ("owner", column.owner))
    }


def latest_collector_runs(connection: Connection) -> list[dict[str, Any]]:
    """Per source: the latest run (status, rows, error, watermark) and when it last succeeded."""
    column = collector_runs.c
    latest = (
        sa.select(column.source, sa.func.max(column.id).label("id"))
        .group_by(column.source)
        .subquery()
    )
    succeeded = (
        sa.select(column.source, sa.func.max(column.finished_at).label("last_success"))
        .where(column.status == "succeeded")
        .group_by(column.source)
        .subquery()
    )
    query = (
        sa.select(
            column.source,
            column.status,
            column.started_at,
            column.finished_at,
            column.rows,
            column.window_start,
            column.window_end,
            column.watermark,
            column.error,
            succeeded.c.last_success,
        )
        .join(latest, latest.c.id == column.id)
        .join(succeeded, succeeded.c.source == column.source, isouter=True)
        .order_by(column.source)
    )
    return [dict(row._mapping) for row in connection.execute(query)]
