"""Reads the monthly report needs that no other query module has: how far each billing
account's charges reach inside a window, and when the warehouse last analyzed.

Spend totals come from :func:`warehouse.queries.costs.cost_totals`, GPU-hours from
:func:`warehouse.queries.gpu_fleet.gpu_host_days`, findings from
:func:`warehouse.findings_store.list_findings`; this module only adds what they lack.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.schema import cost_line_items, findings, gpu_hourly


def billing_coverage(
    connection: Connection, *, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Per provider and billing account with charges starting in ``[start, end)``: the number
    of line items, the first charge start and the latest charge end (``charge_period_end``, or
    the start when a feed leaves the end empty), ordered by provider and account."""
    c = cost_line_items.c
    reach = sa.func.coalesce(c.charge_period_end, c.charge_period_start)
    query = (
        sa.select(
            c.provider_name,
            c.billing_account_id,
            sa.func.count().label("line_items"),
            sa.func.min(c.charge_period_start).label("first_charge"),
            sa.func.max(reach).label("last_charge_end"),
        )
        .where(c.charge_period_start >= start, c.charge_period_start < end)
        .group_by(c.provider_name, c.billing_account_id)
        .order_by(c.provider_name, c.billing_account_id)
    )
    return [
        {
            "provider": row.provider_name or "(unknown)",
            "account": row.billing_account_id or "",
            "line_items": int(row.line_items),
            "first_charge": _aware(row.first_charge),
            "last_charge_end": _aware(row.last_charge_end),
        }
        for row in connection.execute(query)
    ]


def gpu_hours_by_host(
    connection: Connection, *, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Per resource and GPU model with telemetry in ``[start, end)``: GPU-hours (rows: one GPU
    for one hour), the sum of hourly average utilization (percent) and how many hours had one.

    ``util_sum / 100`` is the GPU-hours that did work; hours without a utilization value (MIG
    reports engine-active only) are bought but not counted as used.
    """
    c = gpu_hourly.c
    query = (
        sa.select(
            c.resource_id,
            c.gpu_model,
            sa.func.count().label("gpu_hours"),
            sa.func.sum(c.util_avg).label("util_sum"),
            sa.func.count(c.util_avg).label("util_hours"),
        )
        .where(c.hour >= start, c.hour < end)
        .group_by(c.resource_id, c.gpu_model)
        .order_by(c.resource_id, c.gpu_model)
    )
    return [
        {
            "resource_id": row.resource_id,
            "gpu_model": row.gpu_model,
            "gpu_hours": int(row.gpu_hours),
            "util_sum": float(row.util_sum or 0.0),
            "util_hours": int(row.util_hours),
        }
        for row in connection.execute(query)
    ]


def last_analyzed(connection: Connection) -> dt.datetime | None:
    """The latest time a rule run saw a finding (``last_seen``): when findings were refreshed."""
    return _aware(connection.scalar(sa.select(sa.func.max(findings.c.last_seen))))


def _aware(value: Any) -> dt.datetime | None:
    # MIN/MAX over a UTCDateTime column come back as SQLite text or a naive datetime: the
    # TypeDecorator does not see aggregate results, so normalize here.
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
