"""Read-only rollups for the dashboard: daily spend, GPU utilization per host and day, findings,
collector health, billing freshness, price snapshots and failed notifications.

Every function takes a connection and returns plain rows (dicts). Money comes back as
``Decimal`` summed with :class:`warehouse.types.decimal_sum`, never SQL ``SUM`` on SQLite.
Date ranges are whole UTC days, ``start`` and ``end`` both inclusive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.queries.gpu import usage_spend
from warehouse.schema import (
    collector_runs,
    cost_daily,
    cost_line_items,
    findings,
    gpu_daily,
    gpu_hourly,
    notification_outbox,
    prices,
    resources,
)
from warehouse.types import decimal_sum


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


def _min_max(connection: Connection, column: Any) -> tuple[Any, Any]:
    """Smallest and largest value of an indexed column.

    Two queries, not one: SQLite answers a lone ``min`` or ``max`` from the index in
    microseconds, but ``SELECT min(x), max(x)`` scans the table (3.3 s on the bench's
    gpu_hourly).
    """
    first = connection.scalar(sa.select(sa.func.min(column)))
    return first, connection.scalar(sa.select(sa.func.max(column)))


def spend_window(connection: Connection) -> dict[str, Any] | None:
    """First and last billed day, providers and currencies present; None for an empty warehouse.

    Read from ``cost_daily``: its ``day`` is the UTC day of ``charge_period_start`` and its
    ``line_count`` the line items of each group, so this answers the same as the line items.
    """
    column = cost_daily.c
    first, last = _min_max(connection, column.day)
    if first is None:
        return None
    providers = connection.scalars(
        sa.select(column.provider_name)
        .where(column.provider_name.is_not(None))
        .distinct()
        .order_by(column.provider_name)
    ).all()
    # The currency with the most line items first: it is the default view.
    currencies = connection.scalars(
        sa.select(column.billing_currency)
        .where(column.billing_currency.is_not(None))
        .group_by(column.billing_currency)
        .order_by(sa.func.sum(column.line_count).desc(), column.billing_currency)
    ).all()
    return {
        "first_day": _as_date(first),
        "last_day": _as_date(last),
        "providers": list(providers),
        "currencies": list(currencies),
    }


def gpu_window(connection: Connection) -> tuple[dt.date, dt.date] | None:
    """First and last day with GPU telemetry; None when there is none."""
    first, last = _min_max(connection, gpu_hourly.c.hour)
    return None if first is None else (_as_date(first), _as_date(last))


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


def daily_cost_rollup(
    connection: Connection, *, start: dt.date, end: dt.date, team_tag: str
) -> list[dict[str, Any]]:
    """Billed and effective cost per UTC day, provider, account, service, team tag value,
    currency and whether it is usage spend: the rows every spend page is cut from.

    Every spend figure on the Overview (totals, daily charts, movers, team split, forecast) is
    cut from these few hundred rows, so a page view reads the warehouse once per cache period
    instead of once per chart. The days are whole UTC days, so they come from the daily rollup
    ``cost_daily``; only when some of its rows in the window were built with another team tag
    key than ``team_tag`` (the key changed without ``spendwatch db rebuild-rollups``) are the
    line items read instead. ``usage`` follows :func:`warehouse.queries.gpu.usage_spend`
    (credits and refunds are never spend), the basis of the anomaly rule and the forecast.
    """
    lower, upper = _day_bounds(start, end)
    daily = cost_daily.c
    other_key = sa.select(daily.id).where(
        daily.day >= lower, daily.day < upper, daily.team_tag != team_tag
    )
    if connection.scalar(other_key.limit(1)) is None:
        query = _rollup_query(
            cost_daily,
            day=utc_day(daily.day, connection.dialect.name),
            team=daily.team,
            line_items=sa.func.sum(daily.line_count),
            window=(daily.day >= lower, daily.day < upper),
        )
    else:
        items = cost_line_items.c
        query = _rollup_query(
            cost_line_items,
            day=utc_day(items.charge_period_start, connection.dialect.name),
            team=items.tags[team_tag].as_string(),
            line_items=sa.func.count(),
            window=_spend_filters(start=start, end=end, provider=None, currency=None),
        )
    return [
        {
            "day": _as_date(row.day),
            "provider": row.provider_name or "(unknown)",
            "account": row.sub_account_id or row.billing_account_id or "",
            "service": row.service_name or row.service_category or "(unknown)",
            "category": row.service_category or "",
            "team": row.team,
            "currency": row.billing_currency or "",
            "usage": bool(row.usage),
            "billed": row.billed or Decimal(0),
            "effective": row.effective or Decimal(0),
            "line_items": int(row.line_items),
        }
        for row in connection.execute(query)
    ]


def _rollup_query(
    table: sa.Table, *, day: Any, team: Any, line_items: Any, window: Sequence[Any]
) -> sa.Select[Any]:
    """The daily_cost_rollup grouping over ``cost_daily`` or ``cost_line_items`` (same columns)."""
    column = table.c
    usage = sa.case((usage_spend(table), 1), else_=0).label("usage")
    keys = (
        day.label("day"),
        column.provider_name,
        column.sub_account_id,
        column.billing_account_id,
        column.service_name,
        column.service_category,
        team.label("team"),
        column.billing_currency,
    )
    return (
        sa.select(
            *keys,
            usage,
            decimal_sum(column.billed_cost).label("billed"),
            decimal_sum(column.effective_cost).label("effective"),
            line_items.label("line_items"),
        )
        .where(*window)
        .group_by(*keys, usage)
    )


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


def realized_savings(connection: Connection) -> list[dict[str, Any]]:
    """Resolved findings whose realized monthly saving is known, with when they resolved."""
    column = findings.c
    query = sa.select(
        column.kind,
        column.resource_id,
        column.owner,
        column.currency,
        column.resolved_at,
        column.realized_monthly_savings,
    ).where(column.status == "resolved", column.realized_monthly_savings.is_not(None))
    return [dict(row._mapping) for row in connection.execute(query)]


def billing_loads(connection: Connection) -> list[dict[str, Any]]:
    """Per provider, billing account, billing period and delivery (load): the last charge day.

    A restated period replaces its rows, so one (account, period) normally holds one load; Cost
    Explorer's day windows can leave several.

    Answered by replaying the deliveries recorded in ``collector_runs`` (``warehouse.load``
    records what each left behind), which reads a few rows instead of every line item. When
    the runs cannot account for every line item (loads from before that was recorded, rows
    written by other means), the line items are grouped instead; both give the same rows.
    """
    replayed = _replay_billing_loads(connection)
    return replayed if replayed is not None else _scan_billing_loads(connection)


def _scan_billing_loads(connection: Connection) -> list[dict[str, Any]]:
    column = cost_line_items.c
    keys = (
        column.provider_name,
        column.billing_account_id,
        column.billing_period_start,
        column.billing_period_end,
        column.x_load_id,
        column.x_source,
    )
    query = sa.select(
        *keys,
        sa.func.max(column.charge_period_start).label("last_charge"),
        sa.func.count().label("line_items"),
    ).group_by(*keys)
    return [dict(row._mapping) for row in connection.execute(query)]


# (load id, provider, account, period start, period end) -> what that load holds of the group
_Held = dict[tuple[Any, ...], dict[str, Any]]


def _replay_billing_loads(connection: Connection) -> list[dict[str, Any]] | None:
    """The line items' groups as the recorded deliveries left them; None if not exact."""
    column = collector_runs.c
    query = (
        sa.select(column.source, column.details)
        .where(column.status == "succeeded", column.details.is_not(None))
        .order_by(column.id)  # inserted last in each load's transaction: commit order
    )
    held: _Held = {}
    for run in connection.execute(query):
        details = run.details if isinstance(run.details, dict) else {}
        if "load_id" not in details:
            continue  # not a billing delivery
        if "billing_groups" not in details or not _replay_run(held, run.source, details):
            return None
    recorded_rows = sum(group["rows"] for group in held.values())
    # Rows no recorded run accounts for (an older load, a raw writer) make the replay inexact.
    if not recorded_rows:  # one row is enough to know, without counting them all
        if connection.scalar(sa.select(cost_line_items.c.x_load_id).limit(1)) is not None:
            return None
    elif recorded_rows != connection.scalar(
        sa.select(sa.func.count()).select_from(cost_line_items)
    ):
        return None
    return [
        {
            "provider_name": provider,
            "billing_account_id": account,
            "billing_period_start": _parse_time(period_start),
            "billing_period_end": _parse_time(period_end),
            "x_load_id": load_id,
            "x_source": group["source"],
            "last_charge": _parse_time(group["last_charge"]),
            "line_items": group["rows"],
        }
        for (load_id, provider, account, period_start, period_end), group in held.items()
    ]


def _replay_run(held: _Held, source: str, details: dict[str, Any]) -> bool:
    """Apply one delivery the way ``warehouse.load`` did; False when that cannot be exact."""
    load_id = details["load_id"]
    groups = details["billing_groups"]
    window = details.get("replaced_window")
    if window is None:  # whole (account, period) pairs replaced, whatever their source
        pairs = {(g["billing_account_id"], _parse_time(g["billing_period_start"])) for g in groups}
        for key in list(held):
            if key[0] != load_id and (key[2], _parse_time(key[3])) in pairs:
                del held[key]
    else:  # this source's rows of the account charged inside [start, end)
        start = dt.datetime.fromisoformat(window["start"]).astimezone(dt.UTC)
        end = dt.datetime.fromisoformat(window["end"]).astimezone(dt.UTC)
        for key, group in list(held.items()):
            if key[0] == load_id or group["source"] != source:
                continue
            if key[2] != window["billing_account_id"]:
                continue
            if not _drop_days(group, start=start, end=end):
                return False
            if group["rows"] == 0:
                del held[key]
    for g in groups:
        key = (
            load_id,
            g["provider_name"],
            g["billing_account_id"],
            g["billing_period_start"],
            g["billing_period_end"],
        )
        held[key] = {
            "source": source,
            "rows": g["rows"],
            "first_charge": g["first_charge"],
            "last_charge": g["last_charge"],
            "by_charge": (
                {_parse_time(at): rows for at, rows in g["by_charge"]} if "by_charge" in g else None
            ),
        }
    return True


def _drop_days(group: dict[str, Any], *, start: dt.datetime, end: dt.datetime) -> bool:
    """Remove a group's rows charged in ``[start, end)``; False if its rows are not known."""
    by_charge: dict[Any, int] | None = group["by_charge"]
    if by_charge is None:
        first, last = _parse_time(group["first_charge"]), _parse_time(group["last_charge"])
        if first is None or last is None or last < start or first >= end:
            return True  # no row of this group is in the window
        if first >= start and last < end:
            group["rows"] = 0  # every row is
            return True
        return False
    kept = {at: rows for at, rows in by_charge.items() if at is None or not start <= at < end}
    group["by_charge"] = kept
    group["rows"] = sum(kept.values())
    times = [at for at in kept if at is not None]
    group["first_charge"] = _iso_time(min(times)) if times else None
    group["last_charge"] = _iso_time(max(times)) if times else None
    return True


def _parse_time(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value).astimezone(dt.UTC)


def _iso_time(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def load_finish_times(connection: Connection) -> dict[str, dt.datetime]:
    """``x_load_id`` → when its delivery finished (from the collector run that recorded it)."""
    column = collector_runs.c
    query = sa.select(column.finished_at, column.details).where(
        column.status == "succeeded", column.details.is_not(None)
    )
    found: dict[str, dt.datetime] = {}
    for row in connection.execute(query):
        load_id = (row.details or {}).get("load_id") if isinstance(row.details, dict) else None
        if load_id and row.finished_at is not None:
            found[str(load_id)] = row.finished_at
    return found


def price_snapshots(connection: Connection) -> list[dict[str, Any]]:
    """Per provider and price source: how many prices and the dates they are effective from."""
    column = prices.c
    query = (
        sa.select(
            column.provider,
            column.source,
            sa.func.count().label("prices"),
            sa.func.min(column.effective_at).label("first_effective"),
            sa.func.max(column.effective_at).label("last_effective"),
        )
        .group_by(column.provider, column.source)
        .order_by(column.provider, column.source)
    )
    return [dict(row._mapping) for row in connection.execute(query)]


def failed_notifications(connection: Connection) -> list[dict[str, Any]]:
    """Slack messages given up on (``failed``): channel, the finding, attempts and last error."""
    outbox = notification_outbox.c
    query = (
        sa.select(
            outbox.id,
            outbox.channel,
            outbox.event,
            outbox.finding_id,
            findings.c.kind,
            findings.c.resource_id,
            outbox.attempts,
            outbox.last_error,
            outbox.created_at,
        )
        .select_from(
            notification_outbox.join(findings, findings.c.id == outbox.finding_id, isouter=True)
        )
        .where(outbox.status == "failed")
        .order_by(outbox.created_at.desc(), outbox.id.desc())
    )
    return [dict(row._mapping) for row in connection.execute(query)]
