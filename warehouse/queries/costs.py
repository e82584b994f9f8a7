"""Cost totals from ``cost_line_items``, grouped the way people ask: by provider, service, team...

Sums are exact (:class:`warehouse.types.decimal_sum`) and always grouped by currency too, so
amounts in different currencies never add up. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse.schema import cost_line_items
from warehouse.types import decimal_sum

Metric = Literal["billed", "effective", "list"]

# group-by name -> column; `team` and `day` are expressions built per dialect below.
_COLUMNS: dict[str, str] = {
    "provider": "provider_name",
    "service": "service_name",
    "service_category": "service_category",
    "account": "billing_account_id",
    "sub_account": "sub_account_id",
    "region": "region_id",
    "resource": "resource_id",
}
GROUP_BY_CHOICES: tuple[str, ...] = (*_COLUMNS, "team", "day")
_METRIC_COLUMNS: dict[str, str] = {
    "billed": "billed_cost",
    "effective": "effective_cost",
    "list": "list_cost",
}


def _group_expression(name: str, *, dialect: str, team_tag: str) -> sa.ColumnElement[Any]:
    table = cost_line_items
    if name in _COLUMNS:
        return table.c[_COLUMNS[name]]
    if name == "team":
        # JSON_EXTRACT on SQLite, ->> on PostgreSQL's JSONB: both give the tag value as text.
        return table.c.tags[team_tag].as_string()
    if name == "day":
        if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
            return sa.func.substr(table.c.charge_period_start, 1, 10)
        return sa.cast(sa.func.timezone("UTC", table.c.charge_period_start), sa.Date)
    raise ValueError(f"unknown group-by {name!r}; choose from {', '.join(GROUP_BY_CHOICES)}")


def cost_totals(
    bind: Engine | Connection,
    *,
    group_by: Sequence[str],
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    metric: Metric = "billed",
    team_tag: str = "team",
) -> list[dict[str, Any]]:
    """Exact totals per group and currency for charges starting in ``[start, end)``.

    Each row holds the group-by names, ``billed_cost``, ``effective_cost``, ``list_cost`` and
    ``currency``, sorted by the chosen ``metric``, largest first.
    """
    dialect = bind.dialect.name
    table = cost_line_items
    groups = [
        _group_expression(name, dialect=dialect, team_tag=team_tag).label(name)
        for name in dict.fromkeys(group_by)
    ]
    sums = [decimal_sum(table.c[column]).label(column) for column in _METRIC_COLUMNS.values()]
    currency = table.c.billing_currency.label("currency")
    query = sa.select(*groups, currency, *sums).group_by(*groups, table.c.billing_currency)
    if start is not None:
        query = query.where(table.c.charge_period_start >= start)
    if end is not None:
        query = query.where(table.c.charge_period_start < end)
    with _connection(bind) as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    for row in rows:
        if "day" in row and row["day"] is not None and not isinstance(row["day"], str):
            row["day"] = row["day"].isoformat()
    key = _METRIC_COLUMNS[metric]
    rows.sort(key=lambda row: (row[key] is None, -(row[key] or 0)))
    return rows


def _connection(bind: Engine | Connection) -> Any:
    if isinstance(bind, Connection):
        from contextlib import nullcontext

        return nullcontext(bind)
    return bind.connect()
