"""Cost totals grouped the way people ask: by provider, service, team, day...

Sums are exact (:class:`warehouse.types.decimal_sum`) and always grouped by currency too, so
amounts in different currencies never add up. Runs on SQLite and PostgreSQL.

Every group-by is a column of the daily rollup ``cost_daily``, so whole-day windows (what the
CLI asks for) are read from it; a window that starts or ends mid-day, or a team tag other than
the one the rollup was built with, is read from ``cost_line_items``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse.rollups import day_floor
from warehouse.schema import cost_daily, cost_line_items
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


def _group_expression(
    name: str, *, table: sa.Table, dialect: str, team_tag: str
) -> sa.ColumnElement[Any]:
    time = table.c.day if table is cost_daily else table.c.charge_period_start
    if name in _COLUMNS:
        return table.c[_COLUMNS[name]]
    if name == "team":
        if table is cost_daily:
            return table.c.team
        # JSON_EXTRACT on SQLite, ->> on PostgreSQL's JSONB: both give the tag value as text.
        return table.c.tags[team_tag].as_string()
    if name == "day":
        if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
            return sa.func.substr(time, 1, 10)
        return sa.cast(sa.func.timezone("UTC", time), sa.Date)
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
    names = list(dict.fromkeys(group_by))
    with _connection(bind) as connection:
        rollup = _rollup_answers(connection, start=start, end=end, team_tag=team_tag, names=names)
        table = cost_daily if rollup else cost_line_items
        time = table.c.day if rollup else table.c.charge_period_start
        groups = [
            _group_expression(name, table=table, dialect=dialect, team_tag=team_tag).label(name)
            for name in names
        ]
        sums = [decimal_sum(table.c[column]).label(column) for column in _METRIC_COLUMNS.values()]
        currency = table.c.billing_currency.label("currency")
        query = sa.select(*groups, currency, *sums).group_by(*groups, table.c.billing_currency)
        if start is not None:
            query = query.where(time >= start)
        if end is not None:
            query = query.where(time < end)
        rows = [dict(row._mapping) for row in connection.execute(query)]
    for row in rows:
        if "day" in row and row["day"] is not None and not isinstance(row["day"], str):
            row["day"] = row["day"].isoformat()
    key = _METRIC_COLUMNS[metric]
    rows.sort(key=lambda row: (row[key] is None, -(row[key] or 0)))
    return rows


def _rollup_answers(
    connection: Connection,
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    team_tag: str,
    names: Sequence[str],
) -> bool:
    """True when ``cost_daily`` holds exactly the answer: whole days, the same team key."""
    if any(t is not None and t != day_floor(t) for t in (start, end)):
        return False
    if "team" not in names:
        return True
    other_key = sa.select(cost_daily.c.id).where(cost_daily.c.team_tag != team_tag).limit(1)
    return connection.scalar(other_key) is None


def _connection(bind: Engine | Connection) -> Any:
    if isinstance(bind, Connection):
        from contextlib import nullcontext

        return nullcontext(bind)
    return bind.connect()
