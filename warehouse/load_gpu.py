"""Idempotent load of hourly GPU rollups into ``gpu_hourly``.

A row is identified by ``(source, resource_id, gpu_id, hour)``. Loading a row whose key exists
replaces every other column, so re-collecting a window (the lookback re-reads the last hours on
every run) changes nothing when the data did not change, and corrects hours that were still
filling up last time. Both SQLite and PostgreSQL do this in one ``INSERT ... ON CONFLICT DO
UPDATE`` statement, so there is no delete-then-insert gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from warehouse.errors import InputError
from warehouse.gpu_rollup_daily import day_group, refresh_gpu_daily
from warehouse.schema import gpu_hourly

NATURAL_KEY: tuple[str, ...] = ("source", "resource_id", "gpu_id", "hour")
_VALUE_COLUMNS: tuple[str, ...] = tuple(
    column.name for column in gpu_hourly.columns if column.name not in (*NATURAL_KEY, "id")
)
# Keep each statement well under SQLite's 32,766 bound-parameter limit.
_BATCH_ROWS = 1_000


def load_gpu_hourly(connection: Connection, table: Sequence[Mapping[str, Any]]) -> int:
    """Upsert rows (dicts keyed by ``gpu_hourly`` column names); returns how many were written.

    Runs inside the caller's transaction: commit or roll back the whole load together.
    Missing value columns are written as NULL, so a replaced row never keeps stale numbers.
    The ``gpu_daily`` groups (source, resource, UTC day) the rows touch are recomputed too.
    """
    rows = [_complete(row) for row in table]
    if not rows:
        return 0
    _refuse_duplicate_keys(rows)
    dialect = connection.dialect.name
    insert: Any
    if dialect == "postgresql":
        insert = postgresql.insert(gpu_hourly)
    elif dialect == "sqlite":
        insert = sqlite.insert(gpu_hourly)
    else:  # pragma: no cover - the warehouse supports exactly these two
        raise InputError(f"gpu_hourly load: unsupported database dialect {dialect!r}")
    statement = insert.on_conflict_do_update(
        index_elements=list(NATURAL_KEY),
        set_={name: insert.excluded[name] for name in _VALUE_COLUMNS},
    )
    for start in range(0, len(rows), _BATCH_ROWS):
        connection.execute(statement, rows[start : start + _BATCH_ROWS])
    # Same transaction: the day rollup never disagrees with the hours it was built from.
    refresh_gpu_daily(connection, {day_group(row) for row in rows})
    return len(rows)


def _complete(row: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(row) - {column.name for column in gpu_hourly.columns}
    if unknown:
        raise InputError(f"gpu_hourly load: unknown columns {sorted(unknown)}; fix the collector")
    missing = [name for name in (*NATURAL_KEY, "sample_count") if row.get(name) is None]
    if missing:
        raise InputError(f"gpu_hourly load: row {dict(row)!r} lacks {missing}; fix the collector")
    return {name: row.get(name) for name in (*NATURAL_KEY, *_VALUE_COLUMNS)}


def _refuse_duplicate_keys(rows: list[dict[str, Any]]) -> None:
    # PostgreSQL refuses a second ON CONFLICT hit on the same key in one statement and SQLite
    # silently keeps the last: both hide a collector bug, so say so.
    seen: set[tuple[Any, ...]] = set()
    for row in rows:
        key = tuple(row[name] for name in NATURAL_KEY)
        if key in seen:
            raise InputError(f"gpu_hourly load: duplicate key {key!r}; fix the collector")
        seen.add(key)


def gpu_hourly_rows(connection: Connection, *, source: str | None = None) -> list[dict[str, Any]]:
    """All rows (optionally of one source) ordered by key; for tests and ``collect`` summaries."""
    query = sa.select(gpu_hourly).order_by(*(gpu_hourly.c[name] for name in NATURAL_KEY))
    if source is not None:
        query = query.where(gpu_hourly.c.source == source)
    return [dict(row) for row in connection.execute(query).mappings()]
