"""Bulk inserts of Arrow rows through the raw DBAPI connection of a SQLAlchemy transaction.

This is where loads spend their time, so both the line items and the daily rollup go through
here: ``sqlite3.executemany`` of tuples built column-wise on SQLite, ``COPY ... FROM STDIN`` of
CSV built with Arrow kernels on PostgreSQL. The rows commit or roll back with the caller's
transaction.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.db import DatabaseError
from warehouse.schema import cost_line_items

# The page cache stays resident for the whole load, so it comes out of the 300 MB budget. On
# the 1 M-row bench file (two runs each): 8 MiB 32.1 s / 258 MB peak, 16 MiB 31.0 s / 267 MB,
# 32 MiB 30.2 s / 285 MB. 16 MiB keeps a margin for the rest.
_SQLITE_CACHE_KIB = 16 * 1024
_SQLITE_ROWS_PER_CALL = 2048  # bounds the Python objects alive at once (~40 a row)
# Line items are inserted in runs of this many rows, each in (resource_id, charge_period_start)
# order: that index's B-tree then takes each resource's rows of a run on the same few pages
# instead of one random page per row. `ingest focus` of the 1 M-row bench file, two runs each:
# batch by batch 33.3 s / 246 MB peak; runs of 12,500 rows 30.7 s / 258 MB; 25,000 30.7 s /
# 273 MB (a bare-insert experiment kept gaining up to 50k rows, but the budget is 300 MB).
_SQLITE_RUN_ROWS = 12_500
_SQLITE_RUN_ORDER = ("resource_id", "charge_period_start")


class LineItemWriter(Protocol):
    def write(self, batch: pa.RecordBatch, *, load_id: str, source: str) -> None: ...

    def pause(self) -> None:
        """End any statement in progress, so the caller can run its own SQL in between."""


@contextlib.contextmanager
def line_item_writer(connection: Connection) -> Iterator[LineItemWriter]:
    """``writer.write(batch, *, load_id, source)``: FOCUS batches into ``cost_line_items``.

    On PostgreSQL the batches of a delivery stream through one ``COPY`` (a new one only when
    the columns change or after ``writer.pause()``), so the server parses a batch while this
    process encodes the next instead of waiting for each batch's own statement to finish.
    """
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        # Three indexes are updated per row; a bigger page cache keeps their hot pages in memory.
        raw.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
        writer = _SqliteWriter(connection)
        yield writer
        writer.pause()  # the last run (not reached when the load failed: it rolls back)
        return
    if connection.dialect.name != "postgresql":
        raise DatabaseError(
            f"bulk FOCUS loads support SQLite and PostgreSQL, not {connection.dialect.name}"
        )
    stream = _CopyStream(raw, cost_line_items)
    try:
        yield stream
    except BaseException as exc:
        stream.finish(exc)  # the server is told the COPY failed; the transaction rolls back
        raise
    stream.finish()


class _SqliteWriter:
    """Collects batches into runs of ``_SQLITE_RUN_ROWS`` rows, each inserted in index order."""

    def __init__(self, connection: Connection):
        self._connection = connection
        self._pending: list[pa.Table] = []
        self._rows = 0
        self._constants: dict[str, str] = {}

    def write(self, batch: pa.RecordBatch, *, load_id: str, source: str) -> None:
        constants = {"x_source": source, "x_load_id": load_id}
        if constants != self._constants:
            self.pause()
            self._constants = constants
        self._pending.append(pa.Table.from_batches([batch]))
        self._rows += batch.num_rows
        if self._rows >= _SQLITE_RUN_ROWS:
            self.pause()

    def pause(self) -> None:
        """Insert the rows collected so far."""
        if not self._pending:
            return
        # Files of one delivery may carry different columns: a missing one is NULL.
        run = pa.concat_tables(self._pending, promote_options="default")
        self._pending, self._rows = [], 0
        bulk_insert(
            self._connection,
            cost_line_items,
            run,
            constants=self._constants,
            sqlite_order=_SQLITE_RUN_ORDER,
        )


class _CopyStream:
    """One ``COPY ... FROM STDIN`` for consecutive batches with the same columns."""

    def __init__(self, raw: Any, table: sa.Table):
        self._raw = raw
        self._table = table
        self._columns: list[str] | None = None
        self._open: contextlib.ExitStack | None = None
        self._copy: Any = None

    def write(self, batch: pa.RecordBatch, *, load_id: str, source: str) -> None:
        data = _with_constants(
            pa.Table.from_batches([batch]), {"x_source": source, "x_load_id": load_id}
        )
        _check_columns(self._table, data.schema.names)
        if data.schema.names != self._columns:
            self.finish()
            self._open = contextlib.ExitStack()
            cursor = self._open.enter_context(self._raw.cursor())
            self._copy = self._open.enter_context(cursor.copy(_copy_statement(self._table, data)))
            self._columns = data.schema.names
        self._copy.write(_csv_bytes(data))

    def pause(self) -> None:
        self.finish()

    def finish(self, exc: BaseException | None = None) -> None:
        if self._open is None:
            return
        stack, self._open, self._columns = self._open, None, None
        if exc is None:
            stack.close()
        else:
            stack.__exit__(type(exc), exc, exc.__traceback__)


def bulk_insert(
    connection: Connection,
    table: sa.Table,
    rows: pa.RecordBatch | pa.Table,
    *,
    constants: Mapping[str, str] | None = None,
    sqlite_order: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (columns named as ``table``'s; money as decimal text, timestamps UTC)
    plus ``constants``, text columns with one value on every row. On SQLite the rows go in
    the order of the ``sqlite_order`` columns they have (the order of an index on them)."""
    if rows.num_rows == 0:
        return
    data = pa.Table.from_batches([rows]) if isinstance(rows, pa.RecordBatch) else rows
    # All-null columns are left to the column default (NULL): each bound value costs.
    present = [name for name in data.schema.names if data[name].null_count < data.num_rows]
    data = data.select(present)  # not combined: a run of batches is not copied whole
    _check_columns(table, present)
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        keys = [(name, "ascending") for name in sqlite_order if name in present]
        order = pc.sort_indices(data, sort_keys=keys) if keys else None
        _sqlite_insert(raw, table.name, data, dict(constants or {}), order)
    else:
        data = _with_constants(data, constants or {})
        with raw.cursor() as cursor, cursor.copy(_copy_statement(table, data)) as copy:
            copy.write(_csv_bytes(data))


def _check_columns(table: sa.Table, names: Iterable[str]) -> None:
    unknown = set(names) - set(table.c.keys())
    if unknown:  # names end up in SQL text, so only the table's own columns get through
        raise ValueError(f"not {table.name} columns: {sorted(unknown)}")


def _sqlite_insert(
    raw: Any, name: str, data: pa.Table, constants: dict[str, str], order: pa.Array | None
) -> None:
    """Bind as few Python values as possible: binding costs more than SQLite's own insert.

    A column holding one value on every row (billing period, currency, provider, the load
    id ...) goes into the statement as a literal; the others go through ``to_pylist`` (text
    only: timestamps are cast to SQLAlchemy's SQLite text in Arrow, not per cell).
    """
    literals = {column: sqlite_literal(value) for column, value in constants.items()}
    bound: list[tuple[str, pa.Array | pa.ChunkedArray]] = []
    for column in data.schema.names:
        array = data[column]
        if pa.types.is_timestamp(array.type):  # the exact text SQLAlchemy's DateTime writes
            array = sqlite_time_text(array)
        constant = constant_text(array)
        if constant is not None:
            literals[column] = sqlite_literal(constant)
        else:
            bound.append((column, array))
    columns = [*literals, *(column for column, _ in bound)]
    statement = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - names checked, literals quoted
        name, ", ".join(columns), ", ".join([*literals.values(), *("?" * len(bound))])
    )
    if not bound:  # every column is constant: the same row of literals, repeated
        raw.executemany(statement, itertools.repeat((), data.num_rows))
        return
    for start in range(0, data.num_rows, _SQLITE_ROWS_PER_CALL):
        if order is None:
            values = [array.slice(start, _SQLITE_ROWS_PER_CALL).to_pylist() for _, array in bound]
        else:  # taken a slice at a time: the run is never copied whole in its new order
            rows = order.slice(start, _SQLITE_ROWS_PER_CALL)
            values = [array.take(rows).to_pylist() for _, array in bound]
        raw.executemany(statement, zip(*values, strict=True))


def _with_constants(data: pa.Table, constants: Mapping[str, str]) -> pa.Table:
    for column, value in constants.items():
        data = data.append_column(column, pa.repeat(pa.scalar(value, pa.string()), data.num_rows))
    return data


def _copy_statement(table: sa.Table, data: pa.Table) -> str:
    return "COPY {} ({}) FROM STDIN WITH (FORMAT csv)".format(
        table.name, ", ".join(data.schema.names)
    )


def _csv_bytes(data: pa.Table) -> memoryview:
    """The rows as COPY's CSV, in the form the server parses fastest.

    Arrow's CSV writer quotes every text value and writes zoned times through the zone
    database; here a value is quoted only when it must be (a delimiter, quote or line break
    in it, or the empty string, which unquoted would read as NULL), and times carry no
    microseconds when a column has none. On the 1 M-row bench file that is 12% fewer bytes
    and 7% less server time than Arrow's form, and the text is built by Arrow kernels in
    one pass per column.
    """
    cells = [_copy_cell(data.column(index)) for index in range(data.num_columns)]
    rows = pc.binary_join_element_wise(*cells, ",", null_handling="replace", null_replacement="")
    lines = pc.binary_join_element_wise(rows, "\n", "")
    text = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    # The rows are already one contiguous run of bytes in the array's data buffer.
    _, offset_buffer, data_buffer = text.buffers()
    offsets = pa.Array.from_buffers(
        pa.int32(), len(text) + 1, [None, offset_buffer], offset=text.offset
    )
    start, end = offsets[0].as_py(), offsets[len(text)].as_py()
    return memoryview(data_buffer)[start:end]


def _copy_cell(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """One column as COPY CSV text; a null stays null (written as nothing: NULL)."""
    if pa.types.is_timestamp(column.type):
        return postgres_time_text(column)
    if pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    elif not pa.types.is_string(column.type):
        return pc.cast(column, pa.string())  # numbers and booleans: never quoted in CSV
    needs_quotes = pc.match_substring_regex(column, _NEEDS_QUOTES)
    if not pc.any(needs_quotes).as_py():
        return column
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(needs_quotes, quoted, column)


# A delimiter, a quote or a line break anywhere, or nothing at all (unquoted, that is NULL).
_NEEDS_QUOTES = '[,"\r\n]|^$'


def constant_text(array: pa.Array | pa.ChunkedArray) -> str | None:
    """The one value of a text column with no nulls, or None."""
    if len(array) < 2 or array.null_count or not pa.types.is_string(array.type):
        return None
    if pc.count_distinct(array).as_py() != 1:
        return None
    value: str = array[0].as_py()
    return None if "\x00" in value else value  # a NUL cannot go into SQL text; bind it


def sqlite_literal(value: str) -> str:
    # SQLite string literals have no backslash escapes: doubling the quote is the whole rule.
    return "'" + value.replace("'", "''") + "'"


def postgres_time_text(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``%Y-%m-%d %H:%M:%S[.%f]+00``: the UTC time with its zone, whatever the session's
    TimeZone; the microseconds only when some value of the column has them."""
    naive = pc.cast(pc.cast(array, pa.timestamp("us", tz="UTC")), pa.timestamp("us"))
    seconds = pc.cast(naive, pa.timestamp("s"), safe=False)
    whole = pc.all(pc.equal(pc.cast(seconds, pa.timestamp("us")), naive)).as_py() is not False
    text = pc.cast(seconds if whole else naive, pa.string())
    return pc.binary_join_element_wise(text, "+00", "")


def sqlite_time_text(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``%Y-%m-%d %H:%M:%S.%f`` of the UTC time: Arrow's own cast to text (10x strftime)."""
    if pa.types.is_timestamp(array.type) and array.type.tz is not None:
        array = pc.cast(array, pa.timestamp("us", tz="UTC"))
    return pc.cast(pc.cast(array, pa.timestamp("us")), pa.string())
