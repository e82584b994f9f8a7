"""Bulk writes of FOCUS batches into ``cost_line_items`` through the raw DBAPI connection.

This is where loads spend their time: ``sqlite3.executemany`` of tuples built column-wise on
SQLite, ``COPY ... FROM STDIN`` of Arrow-written CSV on PostgreSQL. The writer uses the
connection of the caller's SQLAlchemy transaction, so it commits or rolls back with it.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy.engine import Connection

from warehouse.db import DatabaseError
from warehouse.rollups import constant_text, sqlite_literal, sqlite_time_text
from warehouse.schema import FOCUS_TIME_COLUMNS, cost_line_items

# 16 MiB: a bigger cache measured no faster on the bench file and its pages stay resident
# for the whole load (64 MiB was a fifth of the 300 MB budget).
_SQLITE_CACHE_KIB = 16 * 1024
_SQLITE_ROWS_PER_CALL = 2048  # bounds the Python objects alive at once (~40 a row)
_FOCUS_COLUMNS = frozenset(cost_line_items.c.keys())


def line_item_writer(connection: Connection) -> Any:
    """A ``write(batch, *, load_id, source)`` for this connection's dialect."""
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        # Four indexes are updated per row; a bigger page cache keeps their hot pages in memory.
        raw.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
        return lambda batch, **kw: _write_sqlite(raw, batch, **kw)
    if connection.dialect.name == "postgresql":
        return lambda batch, **kw: _write_postgres(raw, batch, **kw)
    raise DatabaseError(
        f"bulk FOCUS loads support SQLite and PostgreSQL, not {connection.dialect.name}"
    )


def _present(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Drop all-null columns: the table's default is already NULL, and each value costs."""
    keep = [i for i, array in enumerate(batch.columns) if array.null_count < batch.num_rows]
    return batch.select(keep)


def _columns(batch: pa.RecordBatch) -> list[str]:
    unknown = set(batch.schema.names) - _FOCUS_COLUMNS
    if unknown:  # names end up in SQL text, so only the table's own columns get through
        raise ValueError(f"not cost_line_items columns: {sorted(unknown)}")
    return [*batch.schema.names, "x_source", "x_load_id"]


def _write_sqlite(raw: Any, batch: pa.RecordBatch, *, load_id: str, source: str) -> None:
    """Bind as few Python values as possible: binding costs more than SQLite's own insert.

    A column holding one value on every row of the batch (billing period, currency, provider,
    the load id ...) goes into the statement as a literal; the others go through ``to_pylist``
    (text only: timestamps are cast to SQLAlchemy's SQLite text in Arrow, not per cell).
    """
    batch = _present(batch)
    columns = _columns(batch)
    literals = {"x_source": sqlite_literal(source), "x_load_id": sqlite_literal(load_id)}
    bound: list[tuple[str, pa.Array]] = []
    for name, array in zip(batch.schema.names, batch.columns, strict=True):
        if name in FOCUS_TIME_COLUMNS:  # the exact text SQLAlchemy's DateTime writes on SQLite
            array = sqlite_time_text(array)
        constant = constant_text(array)
        if constant is not None:
            literals[name] = sqlite_literal(constant)
        else:
            bound.append((name, array))
    statement = "INSERT INTO cost_line_items ({}) VALUES ({})".format(  # noqa: S608 - names checked, literals quoted
        ", ".join(columns),
        ", ".join(literals.get(name, "?") for name in columns),
    )
    if not bound:  # every column is constant: the same row of literals, repeated
        raw.executemany(statement, itertools.repeat((), batch.num_rows))
        return
    for start in range(0, batch.num_rows, _SQLITE_ROWS_PER_CALL):
        values = [array.slice(start, _SQLITE_ROWS_PER_CALL).to_pylist() for _, array in bound]
        raw.executemany(statement, zip(*values, strict=True))


def _write_postgres(raw: Any, batch: pa.RecordBatch, *, load_id: str, source: str) -> None:
    batch = _present(batch)
    columns = _columns(batch)
    table = (
        pa.Table.from_batches([batch])
        .append_column("x_source", pa.array(itertools.repeat(source, batch.num_rows), pa.string()))
        .append_column(
            "x_load_id", pa.array(itertools.repeat(load_id, batch.num_rows), pa.string())
        )
    )
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
    statement = "COPY cost_line_items ({}) FROM STDIN WITH (FORMAT csv)".format(", ".join(columns))
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(buffer.getbuffer())
