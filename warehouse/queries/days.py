"""Whole UTC days for the dashboard's reads: the UTC day of a timestamp column, a day range's
bounds, and the first and last value of an indexed column.

Date ranges are whole UTC days, ``start`` and ``end`` both inclusive.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def utc_day(column: Any, dialect_name: str) -> Any:
    """The UTC calendar day of a timestamp column (PostgreSQL would use the session zone)."""
    if dialect_name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)  # SQLite stores naive UTC text


def as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[start 00:00, end + 1 day 00:00)`` in UTC."""
    lower = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    upper = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return lower, upper


def min_max(connection: Connection, column: Any) -> tuple[Any, Any]:
    """Smallest and largest value of an indexed column.

    Two queries, not one: SQLite answers a lone ``min`` or ``max`` from the index in
    microseconds, but ``SELECT min(x), max(x)`` scans the table (3.3 s on the bench's
    gpu_hourly).
    """
    first = connection.scalar(sa.select(sa.func.min(column)))
    return first, connection.scalar(sa.select(sa.func.max(column)))
