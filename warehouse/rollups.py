"""The daily cost rollup (``cost_daily``): one row per UTC day and group of line items.

Readers that only need day-level totals (spend per day, cost per resource, ``spendwatch
costs``) read this table instead of scanning every line item: at fleet scale that is ~20x fewer
rows, and on SQLite every line item summed costs a Python call (:class:`decimal_sum`).

The rollup is kept exact by replacing whole *scopes*, always inside the transaction that
changed their line items:

* :class:`AccountPeriods`: the (billing_account_id, billing_period_start) pairs a delivery
  replaced (``warehouse.load`` replaces line items by the same pairs);
* :class:`SourceDays`: one source's rows of one account charged in a window, widened to whole
  UTC days (Cost Explorer's day-window replace);
* :data:`EVERYTHING`: the whole table (``spendwatch db rebuild-rollups``, the bench generator).

The rows always come from :class:`warehouse.rollup_build.DailyRollupBuilder`: the loader feeds
it the delivery's own batches (the scope then holds exactly those rows), and
:func:`refresh_rollups` feeds it the scope's line items read back from the table. There is no
unique constraint: replacing a scope deletes all of its rows and writes one row per group.

``team`` is the value of the tag named ``team_tag`` when the row was built. The key is stored on
each row, so a reader asking for another key can tell; changing ``settings.tags.team`` needs
``spendwatch db rebuild-rollups``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from warehouse.bulk_insert import bulk_insert
from warehouse.read_ahead import read_ahead
from warehouse.rollup_build import TIME, DailyRollupBuilder
from warehouse.schema import ROLLUP_GROUP_COLUMNS, ROLLUP_MONEY_COLUMNS, cost_daily, cost_line_items

DEFAULT_TEAM_TAG = "team"
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class AccountPeriods:
    """Every line item of these (billing_account_id, billing_period_start) pairs."""

    pairs: Sequence[tuple[str | None, dt.datetime | None]]


@dataclass(frozen=True)
class SourceDays:
    """``source``'s line items of one account charged on the UTC days overlapping [start, end)."""

    source: str
    billing_account_id: str | None
    start: dt.datetime
    end: dt.datetime


class _Everything:
    def __repr__(self) -> str:
        return "EVERYTHING"


EVERYTHING: Final = _Everything()
Scope = AccountPeriods | SourceDays | _Everything


def day_floor(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def day_ceil(moment: dt.datetime) -> dt.datetime:
    floor = day_floor(moment)
    return floor if floor == moment else floor + DAY


def whole_days(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The whole UTC days inside ``[start, end)`` as ``[first, last)``; None if none."""
    first, last = day_ceil(start), day_floor(end)
    return (first, last) if first < last else None


def partial_days(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The parts of ``[start, end)`` outside :func:`whole_days`: line items answer for these."""
    days = whole_days(start, end)
    if days is None:
        return [(start, end)] if start < end else []
    return [(a, b) for a, b in ((start, days[0]), (days[1], end)) if a < b]


def period_hours(connection: Connection, start: Any, end: Any) -> ColumnElement[Any]:
    """Hours between two stored timestamps, as a float, on both dialects."""
    if connection.dialect.name == "sqlite":
        return (sa.func.julianday(end) - sa.func.julianday(start)) * 24.0
    return sa.func.extract("epoch", end - start) / 3600.0


def rollup_team_tag(connection: Connection) -> str:
    """The tag key the rollup was built with (the default when it is empty)."""
    key = connection.scalar(sa.select(cost_daily.c.team_tag).limit(1))
    return key if key is not None else DEFAULT_TEAM_TAG


def refresh_rollups(connection: Connection, scope: Scope, *, team_tag: str) -> int:
    """Rebuild ``cost_daily`` for ``scope`` from the line items now in the table.

    Call it in the transaction that changed the line items, after the change. Line items are
    read back one UTC day at a time, so memory stays bounded by a day of the scope. Returns
    the number of rollup rows written.
    """
    delete_scope(connection, scope)
    line = _line_filters(scope)
    li = cost_line_items.c
    bounds = connection.execute(
        sa.select(sa.func.min(li.charge_period_start), sa.func.max(li.charge_period_start)).where(
            *line
        )
    ).one()
    windows: list[list[ColumnElement[bool]]] = [[li.charge_period_start.is_(None)]]
    if bounds[0] is not None:
        day = day_floor(bounds[0])
        while day <= bounds[1]:
            windows.append([li.charge_period_start >= day, li.charge_period_start < day + DAY])
            day += DAY
    written = 0
    for window in windows:
        builder = DailyRollupBuilder(team_tag=team_tag)
        for batch in _line_items(connection, [*line, *window]):
            builder.add(batch)
        for table in builder.results():
            written += write_rollup(connection, table, team_tag=team_tag)
    return written


def replace_rollup(
    connection: Connection, scope: Scope, builder: DailyRollupBuilder, *, team_tag: str
) -> int:
    """Replace ``scope`` with what ``builder`` saw, when that is ALL the scope's line items."""
    delete_scope(connection, scope)
    # The next day's groups are computed while this day's rows are written.
    days = read_ahead(builder.results())
    return sum(write_rollup(connection, table, team_tag=team_tag) for table in days)


def same_account(column: ColumnElement[Any], account: str | None) -> ColumnElement[bool]:
    """``column = account``, or ``IS NULL`` for no account: not ``IS NOT DISTINCT FROM``, which
    PostgreSQL cannot look up in an index (each replace would scan the whole table)."""
    return column.is_(None) if account is None else column == account


def delete_scope(connection: Connection, scope: Scope) -> None:
    cd = cost_daily.c
    if isinstance(scope, AccountPeriods):
        for account, period in dict.fromkeys(scope.pairs):
            connection.execute(
                sa.delete(cost_daily).where(
                    same_account(cd.billing_account_id, account),
                    cd.billing_period_start == period,  # `== None` renders IS NULL
                )
            )
    elif isinstance(scope, SourceDays):
        connection.execute(
            sa.delete(cost_daily).where(
                cd.x_source == scope.source,
                same_account(cd.billing_account_id, scope.billing_account_id),
                cd.day >= day_floor(scope.start),
                cd.day < day_ceil(scope.end),
            )
        )
    else:
        connection.execute(sa.delete(cost_daily))


def _line_filters(scope: Scope) -> list[ColumnElement[bool]]:
    li = cost_line_items.c
    if isinstance(scope, AccountPeriods):
        pairs = [
            sa.and_(
                same_account(li.billing_account_id, account),
                li.billing_period_start == period,
            )
            for account, period in dict.fromkeys(scope.pairs)
        ]
        return [sa.or_(*pairs)] if pairs else [sa.false()]
    if isinstance(scope, SourceDays):
        return [
            li.x_source == scope.source,
            same_account(li.billing_account_id, scope.billing_account_id),
            li.charge_period_start >= day_floor(scope.start),
            li.charge_period_start < day_ceil(scope.end),
        ]
    return []


_READ_COLUMNS: tuple[str, ...] = (
    "billing_period_start",
    *ROLLUP_GROUP_COLUMNS,
    "x_source",
    "charge_period_start",
    "charge_period_end",
)


def _line_items(
    connection: Connection, where: list[ColumnElement[bool]], *, rows: int = 50_000
) -> Iterator[pa.Table]:
    """The scope's line items as the loader's batches look: money and tags as text."""
    li = cost_line_items.c
    sqlite = connection.dialect.name == "sqlite"

    def text(column: Any) -> ColumnElement[Any]:
        # The stored text on SQLite; PostgreSQL prints numeric with its scale, JSONB as JSON.
        return (sa.type_coerce(column, sa.Text) if sqlite else sa.cast(column, sa.Text)).label(
            column.name
        )

    query = sa.select(
        *(li[name] for name in _READ_COLUMNS),
        *(text(li[name]) for name in ROLLUP_MONEY_COLUMNS),
        text(li.tags),
    ).where(*where)
    result = connection.execute(query.execution_options(stream_results=True))
    names = list(result.keys())
    times = {"billing_period_start", "charge_period_start", "charge_period_end"}
    while chunk := result.fetchmany(rows):
        columns = list(zip(*chunk, strict=True))
        yield pa.table(
            {
                name: pa.array(values, TIME if name in times else pa.string())
                for name, values in zip(names, columns, strict=True)
            }
        )


def write_rollup(connection: Connection, table: pa.Table, *, team_tag: str) -> int:
    """Insert :meth:`DailyRollupBuilder.result` rows."""
    bulk_insert(connection, cost_daily, table, constants={"team_tag": team_tag})
    return table.num_rows
