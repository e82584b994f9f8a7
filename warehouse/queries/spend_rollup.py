"""The dashboard's spend reads: the billed window and the daily cost rollup every spend figure on
the Overview is cut from.

Money comes back as ``Decimal`` summed with :class:`warehouse.types.decimal_sum`, never SQL
``SUM`` on SQLite. Date ranges are whole UTC days, ``start`` and ``end`` both inclusive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.queries.days import as_date, day_bounds, min_max, utc_day
from warehouse.queries.gpu import usage_spend
from warehouse.schema import cost_daily, cost_line_items
from warehouse.types import decimal_sum


def spend_window(connection: Connection) -> dict[str, Any] | None:
    """First and last billed day, providers and currencies present; None for an empty warehouse.

    Read from ``cost_daily``: its ``day`` is the UTC day of ``charge_period_start`` and its
    ``line_count`` the line items of each group, so this answers the same as the line items.
    """
    column = cost_daily.c
    first, last = min_max(connection, column.day)
    if first is None:
        return None
    # Providers and currencies in one read of the rollup. The pairs are a handful, so they are
    # sorted after DISTINCT: with ORDER BY on the same select, SQLite sorts every row instead.
    distinct = sa.select(column.provider_name, column.billing_currency).distinct().subquery()
    pairs = connection.execute(
        sa.select(distinct.c.provider_name, distinct.c.billing_currency).order_by(
            distinct.c.provider_name, distinct.c.billing_currency
        )
    ).all()
    providers = list(dict.fromkeys(p for p, _ in pairs if p is not None))
    currencies = list(dict.fromkeys(c for _, c in pairs if c is not None))
    if len(currencies) > 1:
        # The currency with the most line items first: it is the default view.
        currencies = list(
            connection.scalars(
                sa.select(column.billing_currency)
                .where(column.billing_currency.is_not(None))
                .group_by(column.billing_currency)
                .order_by(sa.func.sum(column.line_count).desc(), column.billing_currency)
            )
        )
    return {
        "first_day": as_date(first),
        "last_day": as_date(last),
        "providers": providers,
        "currencies": currencies,
    }


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
    lower, upper = day_bounds(start, end)
    daily = cost_daily.c
    other_key = sa.select(daily.id).where(
        daily.day >= lower, daily.day < upper, daily.team_tag != team_tag
    )
    if connection.scalar(other_key.limit(1)) is None:
        query = _rollup_query(
            cost_daily,
            # Already a UTC midnight (see the schema): grouping on the bare column spares SQLite
            # a date() call per row, and the rows come back as the same days.
            day=daily.day,
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
            window=(items.charge_period_start >= lower, items.charge_period_start < upper),
        )
    return [
        {
            "day": as_date(row.day),
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
