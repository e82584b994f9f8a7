"""Idempotent loads into the warehouse.

FOCUS billing (``load_focus...``): one call is one delivery. Inside ONE transaction every row is
inserted under a new ``x_load_id``; the first time a (billing_account_id, billing_period_start)
pair shows up in the delivery, the older rows of that pair are deleted, before any of the
delivery's own rows of it are written (deleting them afterwards would have to step over every
new row of the pair to tell old from new). So re-ingesting a file changes no
totals, a corrected re-delivery of a month replaces that month for that account only, and a
failure anywhere leaves the warehouse as it was. Each delivery is recorded in
``collector_runs``.

A source that delivers by day rather than by billing period (Cost Explorer) passes
``replace_days``: its rows then replace only that source's older rows for that billing account
whose charge starts inside the window (deleted before the first row is written), instead of
whole (account, period) pairs.

The daily rollup (``warehouse.rollups``) is rebuilt for exactly what the delivery replaced, in
the same transaction, so readers never see line items and rollup disagree. ``team_tag`` names
the tag whose value the rollup keeps as ``team`` (``settings.tags.team``); when it is not given,
the key the rollup was last built with is kept.

Rows are written by ``warehouse.bulk_insert`` through the raw DBAPI connection of the same
SQLAlchemy transaction, while ``warehouse.read_ahead`` reads the next batches in a thread.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse.billing_groups import BillingGroups
from warehouse.bulk_insert import line_item_writer
from warehouse.db import DatabaseError, safe_url
from warehouse.read_ahead import read_ahead
from warehouse.rollup_build import DailyRollupBuilder
from warehouse.rollups import (
    DAY,
    AccountPeriods,
    SourceDays,
    refresh_rollups,
    replace_rollup,
    rollup_team_tag,
    same_account,
)
from warehouse.schema import collector_runs, cost_line_items

FOCUS_SOURCE = "focus-file"


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
            team = team_tag if team_tag is not None else rollup_team_tag(connection)
            rollup = DailyRollupBuilder(team_tag=team, source=source)
            pairs: set[tuple[str | None, dt.datetime]] = set()
            groups = BillingGroups()
            if replace_days is not None:
                result.replaced_rows = _delete_days(connection, source=source, window=replace_days)
            with line_item_writer(connection) as writer:
                for batch in read_ahead(_rolled_up(batches, rollup)):
                    if batch.num_rows == 0:
                        continue
                    if replace_days is not None:
                        _check_inside(batch, replace_days)
                    first_seen = _account_periods(batch) - pairs
                    if first_seen and replace_days is None:
                        writer.pause()  # PostgreSQL: no other statement while a COPY is open
                        result.replaced_rows += _delete_pairs(connection, first_seen)
                    pairs |= first_seen
                    writer.write(batch, load_id=result.load_id, source=source)
                    result.rows += batch.num_rows
                    groups.add(batch, by_charge=replace_days is not None)
            result.periods = sorted(pairs, key=lambda pair: (pair[1], pair[0] or ""))
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


def _delete_pairs(connection: Connection, pairs: set[tuple[str | None, dt.datetime]]) -> int:
    """Delete what earlier deliveries left of these (account, period) pairs."""
    table = cost_line_items
    deleted = 0
    for account, period in sorted(pairs, key=lambda pair: (pair[1], pair[0] or "")):
        outcome = connection.execute(
            sa.delete(table).where(
                same_account(table.c.billing_account_id, account),
                table.c.billing_period_start == period,
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


def _delete_days(connection: Connection, *, source: str, window: DayWindowReplace) -> int:
    table = cost_line_items
    outcome = connection.execute(
        sa.delete(table).where(
            table.c.x_source == source,
            same_account(table.c.billing_account_id, window.billing_account_id),
            table.c.charge_period_start >= window.start,
            table.c.charge_period_start < window.end,
        )
    )
    return max(outcome.rowcount, 0)
