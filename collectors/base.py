"""The collector interface, and running one collector once with its run recorded.

A collector fetches one source for a time window, normalizes it, and loads it idempotently::

    class Collector(Protocol):
        name: str                      # what `spendwatch collect NAME` calls it
        loads: str                     # the warehouse table it writes
        natural_key: tuple[str, ...]   # the columns that identify a row in that table
        lookback: timedelta            # re-read this much before the last watermark
        def collect(self, engine, *, since, until) -> CollectResult

:func:`run_collector` picks the window (explicit, else ``watermark - lookback`` up to now),
records the attempt in ``collector_runs`` and turns any failure into a failed run with a
one-line reason, so one broken source never stops the others.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from warehouse.errors import InputError, SpendwatchError
from warehouse.runs import fail_run, finish_run, last_watermark, start_run

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class CollectResult:
    rows: int  # rows written (inserted or replaced)
    watermark: dt.datetime | None  # exclusive end of the data now complete in the warehouse
    details: dict[str, Any] = dataclasses.field(default_factory=dict)  # JSON-safe counters


class Collector(Protocol):
    name: str
    loads: str
    natural_key: tuple[str, ...]
    lookback: dt.timedelta
    # How far back the first run reaches, when no watermark exists yet.
    initial_window: dt.timedelta

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        """Load ``[since, until)`` into :attr:`loads`; raise a SpendwatchError on failure."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class RunOutcome:
    source: str
    run_id: int
    status: str  # succeeded | failed
    since: dt.datetime
    until: dt.datetime
    rows: int
    watermark: dt.datetime | None
    error: str | None


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def collection_window(
    engine: Engine,
    collector: Collector,
    *,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """``[since, until)``: explicit bounds win; else from ``watermark - lookback`` to now."""
    end = until if until is not None else now
    if since is None:
        watermark = last_watermark(engine, collector.name)
        since = (
            watermark - collector.lookback
            if watermark is not None
            else end - collector.initial_window
        )
    for label, value in (("since", since), ("until", end)):
        if value.tzinfo is None:
            raise InputError(f"--{label} {value.isoformat()} has no time zone; give it in UTC")
    if since >= end:
        raise InputError(
            f"{collector.name}: empty window {since.isoformat()} .. {end.isoformat()}; "
            "--since must be before --until"
        )
    return since, end


def run_collector(
    engine: Engine,
    collector: Collector,
    *,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> RunOutcome:
    """Collect one window and record the run. Never raises for a source failure."""
    start, end = collection_window(engine, collector, now=now, since=since, until=until)
    run_id = start_run(engine, collector.name, window_start=start, window_end=end, now=now)
    try:
        result = collector.collect(engine, since=start, until=end)
    except SpendwatchError as exc:
        reason = str(exc)
    except Exception as exc:  # an unexpected bug must still leave a failed run, not "running"
        log.exception("collector %s crashed", collector.name)
        reason = f"{collector.name}: unexpected {type(exc).__name__}: {exc}".splitlines()[0]
    else:
        finish_run(
            engine, run_id, rows=result.rows, watermark=result.watermark, details=result.details
        )
        return RunOutcome(
            collector.name, run_id, "succeeded", start, end, result.rows, result.watermark, None
        )
    fail_run(engine, run_id, error=reason)
    return RunOutcome(collector.name, run_id, "failed", start, end, 0, None, reason)
