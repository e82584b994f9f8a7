"""Idempotent loads into the warehouse.

FOCUS billing (``load_focus...``): one call is one delivery. Inside ONE transaction every row is
inserted under a new ``x_load_id``, then older rows for each (billing_account_id,
billing_period_start) pair this delivery contains are deleted. So re-ingesting a file changes no
totals, a corrected re-delivery of a month replaces that month for that account only, and a
failure anywhere leaves the warehouse as it was. Each delivery is recorded in
``collector_runs``.

A source that delivers by day rather than by billing period (Cost Explorer) passes
``replace_days``: its rows then replace only that source's older rows for that billing account
whose charge starts inside the window, instead of whole (account, period) pairs.

The daily rollup (``warehouse.rollups``) is rebuilt for exactly what the delivery replaced, in
the same transaction, so readers never see line items and rollup disagree. ``team_tag`` names
the tag whose value the rollup keeps as ``team`` (``settings.tags.team``); when it is not given,
the key the rollup was last built with is kept.

Rows are written through the raw DBAPI connection of the same SQLAlchemy transaction, because
that is where bulk loads spend their time: ``sqlite3.executemany`` of tuples built column-wise on
SQLite, ``COPY ... FROM STDIN`` of Arrow-written CSV on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import queue
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse.db import DatabaseError, safe_url
from warehouse.rollup_build import DailyRollupBuilder
from warehouse.rollups import (
    DAY,
    AccountPeriods,
    SourceDays,
    constant_text,
    refresh_rollups,
    replace_rollup,
    rollup_team_tag,
    sqlite_literal,
    sqlite_time_text,
)
from warehouse.schema import FOCUS_TIME_COLUMNS, collector_runs, cost_line_items

FOCUS_SOURCE = "focus-file"
# 16 MiB: a bigger cache measured no faster on the bench file and its pages stay resident
# for the whole load (64 MiB was a fifth of the 300 MB budget).
_SQLITE_CACHE_KIB = 16 * 1024
_SQLITE_ROWS_PER_CALL = 2048  # bounds the Python objects alive at once (~40 a row)
_FOCUS_COLUMNS = frozenset(cost_line_items.c.keys())


@dataclass(frozen=True)
class DayWindowReplace:
    """Replace ``source``'s rows of one billing account charged in ``[start, end)``."""

    billing_account_id: str | None
    start: dt.datetime
    end: dt.datetime


@dataclass
class FocusLoadResult:
    load_id: str
    rows: int = 0
    replaced_rows: int = 0
    periods: list[tuple[str | None, dt.datetime]] = field(default_factory=list)


def load_focus_batches(
    engine: Engine,
    batches: Iterable[pa.RecordBatch],
    *,
    source: str = FOCUS_SOURCE,
    details: Mapping[str, Any] | None = None,
    replace_days: DayWindowReplace | None = None,
    team_tag: str | None = None,
) -> FocusLoadResult:
    """Load one delivery of normalized FOCUS batches (see ``collectors.focus_files``).

    Batch columns are ``cost_line_items`` column names: money as decimal text, timestamps as
    ``timestamp[us, UTC]``, JSON as text. Any exception from ``batches`` (a bad cell) or from
    the database rolls everything back, is recorded as a failed run, and is re-raised.
    With ``replace_days`` every row must be of that account and charged inside that window.
    """
    result = FocusLoadResult(load_id=str(uuid.uuid4()))
    started = dt.datetime.now(dt.UTC)
    run_details: dict[str, Any] = {**(details or {}), "load_id": result.load_id}
    run: dict[str, Any] = {"source": source, "started_at": started, "details": run_details}
    try:
        with engine.begin() as connection:
            write = _writer_for(connection)
            team = team_tag if team_tag is not None else rollup_team_tag(connection)
            rollup = DailyRollupBuilder(team_tag=team, source=source)
            pairs: set[tuple[str | None, dt.datetime]] = set()
            groups = BillingGroups()
            for batch in _prefetched(_rolled_up(batches, rollup)):
                if batch.num_rows == 0:
                    continue
                if replace_days is not None:
                    _check_inside(batch, replace_days)
                write(batch, load_id=result.load_id, source=source)
                result.rows += batch.num_rows
                pairs |= _account_periods(batch)
                groups.add(batch, by_charge=replace_days is not None)
            result.periods = sorted(pairs, key=lambda pair: (pair[1], pair[0] or ""))
            result.replaced_rows = (
                _delete_superseded(connection, result)
                if replace_days is None
                else _delete_days(connection, result, source=source, window=replace_days)
            )
            run_details["replaced_rows"] = result.replaced_rows
            # What this delivery left in cost_line_items, so billing_loads can replay the runs
            # instead of grouping every line item (warehouse.queries.billing_loads).
            run_details["billing_groups"] = groups.recorded()
            if replace_days is not None:
                run_details["replaced_window"] = {
                    "billing_account_id": replace_days.billing_account_id,
                    "start": replace_days.start.isoformat(),
                    "end": replace_days.end.isoformat(),
                }
            _replace_rollups(connection, result, rollup, source=source, window=replace_days)
            connection.execute(
                collector_runs.insert().values(
                    **run,
                    status="succeeded",
                    rows=result.rows,
                    finished_at=dt.datetime.now(dt.UTC),
                    window_start=min((p for _, p in pairs), default=None),
                    window_end=max((p for _, p in pairs), default=None),
                )
            )
    except Exception as exc:
        _record_failure(engine, run, exc)
        if isinstance(exc, sa.exc.DBAPIError):
            reason = " ".join(str(exc.orig).split())[:300]
            raise DatabaseError(
                f"loading into the warehouse at {safe_url(str(engine.url))} failed: {reason}; "
                "nothing was written"
            ) from None
        raise
    return result


class BillingGroups:
    """Per (provider, account, billing period) of one delivery: rows and first/last charge.

    ``by_charge`` (day-window deliveries) also counts rows per charge start, so a later window
    that replaces some of those days can be replayed exactly.
    """

    _KEYS = ("provider_name", "billing_account_id", "billing_period_start", "billing_period_end")

    def __init__(self) -> None:
        self._groups: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(self, batch: pa.RecordBatch, *, by_charge: bool) -> None:
        names = batch.schema.names
        columns = {
            key: batch.column(names.index(key))
            if key in names
            else pa.nulls(batch.num_rows, pa.string())
            for key in (*self._KEYS, "charge_period_start")
        }
        keys = [*self._KEYS, "charge_period_start"] if by_charge else list(self._KEYS)
        table = (
            pa.table(columns)
            .group_by(keys)
            .aggregate(
                [
                    ([], "count_all"),
                    ("charge_period_start", "min"),
                    ("charge_period_start", "max"),
                ]
            )
        )
        for row in table.to_pylist():
            key = tuple(_iso(row[name]) for name in self._KEYS)
            group = self._groups.setdefault(
                key, {"rows": 0, "first_charge": None, "last_charge": None, "by_charge": {}}
            )
            group["rows"] += row["count_all"]
            first, last = _iso(row["charge_period_start_min"]), _iso(row["charge_period_start_max"])
            if first is not None and (
                group["first_charge"] is None or first < group["first_charge"]
            ):
                group["first_charge"] = first
            if last is not None and (group["last_charge"] is None or last > group["last_charge"]):
                group["last_charge"] = last
            if by_charge:
                charge = _iso(row["charge_period_start"])
                group["by_charge"][charge] = group["by_charge"].get(charge, 0) + row["count_all"]

    def recorded(self) -> list[dict[str, Any]]:
        """JSON-ready: timestamps as ISO text (all UTC, so they also sort as text)."""
        out = []
        for key, group in sorted(self._groups.items(), key=lambda item: repr(item[0])):
            entry = dict(zip(self._KEYS, key, strict=True))
            entry.update(rows=group["rows"], first_charge=group["first_charge"])
            entry["last_charge"] = group["last_charge"]
            if group["by_charge"]:
                entry["by_charge"] = sorted(group["by_charge"].items(), key=lambda p: p[0] or "")
            out.append(entry)
        return out


def _iso(value: Any) -> Any:
    """Fixed-width UTC text, so text order is time order."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return value


_DONE = object()


def _prefetched(batches: Iterable[pa.RecordBatch], *, depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Read and convert the next batches in a thread while this one is written.

    Arrow and the database drivers release the GIL in their C code, so reading and writing
    overlap on two cores. ``depth`` bounds the batches held in memory; an exception in the
    reader is re-raised here, and stopping early (a write failed) stops the reader.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        handoff.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            handoff.put(exc)

    reader = threading.Thread(target=produce, name="focus-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue
            try:
                handoff.get_nowait()
            except queue.Empty:
                reader.join(timeout=0.1)


def _record_failure(engine: Engine, run: dict[str, Any], exc: BaseException) -> None:
    """A failed delivery still leaves a trace, in its own transaction after the rollback."""
    error = " ".join(str(exc).split())[:2000] or type(exc).__name__
    try:
        with engine.begin() as connection:
            connection.execute(
                collector_runs.insert().values(
                    **run,
                    status="failed",
                    rows=0,
                    error=error,
                    finished_at=dt.datetime.now(dt.UTC),
                )
            )
    except sa.exc.SQLAlchemyError:  # the database itself is the problem; report the original
        pass


def _account_periods(batch: pa.RecordBatch) -> set[tuple[str | None, dt.datetime]]:
    names = batch.schema.names
    accounts = (
        batch.column(names.index("billing_account_id"))
        if "billing_account_id" in names
        else pa.nulls(batch.num_rows, pa.string())
    )
    periods = batch.column(names.index("billing_period_start"))
    distinct = pa.table({"a": accounts, "p": periods}).group_by(["a", "p"]).aggregate([])
    return set(zip(distinct["a"].to_pylist(), distinct["p"].to_pylist(), strict=True))


def _delete_superseded(connection: Connection, result: FocusLoadResult) -> int:
    table = cost_line_items
    deleted = 0
    for account, period in result.periods:
        outcome = connection.execute(
            sa.delete(table).where(
                table.c.billing_account_id.is_not_distinct_from(account),
                table.c.billing_period_start == period,
                table.c.x_load_id != result.load_id,
            )
        )
        deleted += max(outcome.rowcount, 0)
    return deleted


def _rolled_up(
    batches: Iterable[pa.RecordBatch], rollup: DailyRollupBuilder
) -> Iterator[pa.RecordBatch]:
    """Feed the rollup as batches pass, in the reader thread: Arrow releases the GIL."""
    for batch in batches:
        rollup.add(batch)
        yield batch


def _replace_rollups(
    connection: Connection,
    result: FocusLoadResult,
    rollup: DailyRollupBuilder,
    *,
    source: str,
    window: DayWindowReplace | None,
) -> None:
    if window is None:
        # After the delete, these pairs hold exactly this delivery's rows.
        replace_rollup(connection, AccountPeriods(result.periods), rollup, team_tag=rollup.team_tag)
        return
    scope = SourceDays(source, window.billing_account_id, window.start, window.end)
    whole_days = (window.end - window.start) % DAY == dt.timedelta(0) and window.start == (
        window.start.replace(hour=0, minute=0, second=0, microsecond=0)
    )
    if whole_days:  # the window's days hold exactly this delivery's rows of the source
        replace_rollup(connection, scope, rollup, team_tag=rollup.team_tag)
    else:  # rows outside the window share its first or last day: read the days back
        refresh_rollups(connection, scope, team_tag=rollup.team_tag)


def _check_inside(batch: pa.RecordBatch, window: DayWindowReplace) -> None:
    """A row outside the window would survive the next replacement: refuse it (a bug)."""
    names = batch.schema.names
    starts = batch.column(names.index("charge_period_start"))
    accounts = (
        batch.column(names.index("billing_account_id")) if "billing_account_id" in names else None
    )
    earliest, latest = pc.min(starts).as_py(), pc.max(starts).as_py()
    outside = earliest is None or earliest < window.start or latest >= window.end
    other = (
        accounts is None
        or pc.any(
            pc.invert(pc.fill_null(pc.equal(accounts, window.billing_account_id or ""), False))
        ).as_py()
    )
    if outside or other:
        raise ValueError(
            f"rows outside the replace window {window.billing_account_id} "
            f"{window.start.isoformat()} .. {window.end.isoformat()}"
        )


def _delete_days(
    connection: Connection, result: FocusLoadResult, *, source: str, window: DayWindowReplace
) -> int:
    table = cost_line_items
    outcome = connection.execute(
        sa.delete(table).where(
            table.c.x_source == source,
            table.c.billing_account_id.is_not_distinct_from(window.billing_account_id),
            table.c.charge_period_start >= window.start,
            table.c.charge_period_start < window.end,
            table.c.x_load_id != result.load_id,
        )
    )
    return max(outcome.rowcount, 0)


def _writer_for(connection: Connection) -> Any:
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
