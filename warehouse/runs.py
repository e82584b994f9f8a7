"""Collector runs: one ``collector_runs`` row per attempt, with the watermark it reached.

A run is written in its own short transactions (start, then finish or fail), separate from the
collector's data load, so a failed load still leaves a visible failed run behind.

The watermark is the exclusive end of the data a run loaded completely: for hourly telemetry,
the end of the last complete hour. The next scheduled run starts at ``watermark - lookback``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warehouse.schema import collector_runs

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"


@dataclasses.dataclass(frozen=True, slots=True)
class CollectorRun:
    id: int
    source: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    rows: int
    watermark: dt.datetime | None
    error: str | None
    details: dict[str, Any] | None


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.UTC)


def start_run(
    engine: Engine,
    source: str,
    *,
    window_start: dt.datetime | None,
    window_end: dt.datetime | None,
    now: dt.datetime | None = None,
) -> int:
    """Record that ``source`` started on ``[window_start, window_end)``; returns the run id."""
    with engine.begin() as connection:
        result = connection.execute(
            collector_runs.insert()
            .values(
                source=source,
                window_start=window_start,
                window_end=window_end,
                started_at=_now(now),
                status=RUNNING,
                rows=0,
            )
            .returning(collector_runs.c.id)
        )
        return int(result.scalar_one())


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    rows: int,
    watermark: dt.datetime | None,
    details: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    _close(
        engine, run_id, status=SUCCEEDED, rows=rows, watermark=watermark, details=details, now=now
    )


def fail_run(
    engine: Engine,
    run_id: int,
    *,
    error: str,
    rows: int = 0,
    details: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Mark the run failed; ``error`` is the one-line reason shown by ``collect --list``."""
    _close(
        engine,
        run_id,
        status=FAILED,
        rows=rows,
        watermark=None,
        error=error,
        details=details,
        now=now,
    )


def _close(
    engine: Engine,
    run_id: int,
    *,
    status: str,
    rows: int,
    watermark: dt.datetime | None,
    details: dict[str, Any] | None,
    now: dt.datetime | None,
    error: str | None = None,
) -> None:
    with engine.begin() as connection:
        connection.execute(
            collector_runs.update()
            .where(collector_runs.c.id == run_id)
            .values(
                status=status,
                finished_at=_now(now),
                rows=rows,
                watermark=watermark,
                error=error,
                details=details,
            )
        )


def last_watermark(engine: Engine, source: str) -> dt.datetime | None:
    """The furthest watermark any successful run of ``source`` reached, or None."""
    query = sa.select(sa.func.max(collector_runs.c.watermark)).where(
        collector_runs.c.source == source, collector_runs.c.status == SUCCEEDED
    )
    with engine.connect() as connection:
        value: dt.datetime | None = connection.execute(query).scalar_one_or_none()
    return value  # max() keeps the column's UTCDateTime type, so this is aware UTC


def last_runs(engine: Engine) -> dict[str, CollectorRun]:
    """The most recent run of each source, by source name."""
    latest = (
        sa.select(collector_runs.c.source, sa.func.max(collector_runs.c.id).label("id"))
        .group_by(collector_runs.c.source)
        .subquery()
    )
    query = sa.select(collector_runs).join(latest, latest.c.id == collector_runs.c.id)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return {
        row["source"]: CollectorRun(
            id=row["id"],
            source=row["source"],
            status=row["status"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            window_start=row["window_start"],
            window_end=row["window_end"],
            rows=row["rows"],
            watermark=row["watermark"],
            error=row["error"],
            details=row["details"],
        )
        for row in rows
    }
