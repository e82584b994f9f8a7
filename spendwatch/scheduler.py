"""`spendwatch serve`: the one scheduler process (APScheduler 3).

The job table below is the whole schedule. Jobs are referenced as ``"module:function"`` so the
table is data, and each job loads settings afresh, so an edited spendwatch.toml takes effect at
the next run without a restart.

Exactly one scheduler may run per warehouse. Two would double every collector request (Cost
Explorer charges per request) and race on the outbox, so ``serve`` takes a lease first: a
PostgreSQL advisory lock held for the life of the process, or an exclusive file lock beside a
SQLite database. A standby ``serve`` waits for the lease instead of running jobs.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.engine import Engine, make_url

from warehouse.errors import SpendwatchError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduledJob:
    name: str
    func: str  # "module:function", called with no arguments
    trigger: str  # "cron" or "interval"
    schedule: dict[str, Any]
    description: str


JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        "collect",
        "spendwatch.jobs:collect_job",
        "cron",
        {"minute": 5},
        "run every configured collector (billing, telemetry, inventory, prices)",
    ),
    ScheduledJob(
        "analyze",
        "spendwatch.jobs:analyze_job",
        "cron",
        {"minute": 20},
        "refresh findings as of the last full hour and queue notifications",
    ),
    ScheduledJob(
        "alert",
        "spendwatch.jobs:alert_job",
        "interval",
        {"minutes": 5},
        "queue reminders and deliver pending Slack notifications",
    ),
    ScheduledJob(
        "report",
        "spendwatch.jobs:report_job",
        "cron",
        {"day": 2, "hour": 6, "minute": 0},
        "write the previous month's rightsizing report into [reports] out_dir",
    ),
)

# A late run still happens once (coalesce) if it is at most this late; a scheduler that was down
# for a day runs each job once on restart rather than 24 times.
MISFIRE_GRACE_SECONDS = 3600


class LeaseHeld(SpendwatchError):
    """Another `spendwatch serve` is running against the same warehouse."""


def build_scheduler(jobs: tuple[ScheduledJob, ...] = JOBS) -> BlockingScheduler:
    scheduler = BlockingScheduler(
        timezone="UTC",
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )
    for job in jobs:
        scheduler.add_job(
            job.func,
            job.trigger,
            id=job.name,
            name=job.description,
            replace_existing=True,
            **job.schedule,
        )
    return scheduler


def job_table(scheduler: BlockingScheduler) -> list[dict[str, Any]]:
    """Each job with its next run time, for `serve --list`."""
    rows = []
    for job in JOBS:
        scheduled = scheduler.get_job(job.name)
        trigger = scheduled.trigger if scheduled is not None else None
        next_run = (
            trigger.get_next_fire_time(None, _now(scheduler)) if trigger is not None else None
        )
        rows.append(
            {
                "job": job.name,
                "schedule": _describe(job),
                "next_run": next_run.replace(microsecond=0) if next_run else None,
                "does": job.description,
            }
        )
    return rows


def _now(scheduler: BlockingScheduler) -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC).astimezone(scheduler.timezone)


def _describe(job: ScheduledJob) -> str:
    if job.trigger == "interval":
        return "every " + ", ".join(f"{v} {k}" for k, v in job.schedule.items())
    return "cron " + " ".join(f"{k}={v}" for k, v in job.schedule.items())


@contextmanager
def scheduler_lease(engine: Engine, *, wait: bool) -> Iterator[None]:
    """Hold the one-scheduler lease for the duration of the block."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, wait=wait):
            yield
        return
    with _file_lock(_lock_path(engine), wait=wait):
        yield


# Any fixed 63-bit number would do; deriving it from a name keeps it readable in pg_locks.
_LOCK_KEY = zlib.crc32(b"spendwatch-scheduler")


@contextmanager
def _advisory_lock(engine: Engine, *, wait: bool) -> Iterator[None]:
    with engine.connect() as connection:
        if wait:
            connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        else:
            got = connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK_KEY}
            ).scalar()
            if not got:
                raise LeaseHeld(
                    "another `spendwatch serve` already runs against this warehouse; "
                    "stop it, or start this one with --standby to take over when it stops"
                )
        connection.commit()
        try:
            yield
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            connection.commit()


def _lock_path(engine: Engine) -> Path:
    database = make_url(str(engine.url)).database or ""
    if not database or database == ":memory:":
        raise SpendwatchError("`spendwatch serve` needs a file or PostgreSQL warehouse")
    return Path(database + ".scheduler.lock")


@contextmanager
def _file_lock(path: Path, *, wait: bool) -> Iterator[None]:
    with path.open("a") as handle:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(handle, flags)
        except BlockingIOError:
            raise LeaseHeld(
                f"another `spendwatch serve` holds {path}; stop it, or start this one with "
                "--standby to take over when it stops"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def serve(engine: Engine, *, standby: bool, stop: threading.Event | None = None) -> None:
    """Take the lease, then run the schedule until interrupted (or ``stop`` is set)."""
    with scheduler_lease(engine, wait=standby):
        scheduler = build_scheduler()
        if stop is not None:
            threading.Thread(
                target=lambda: (stop.wait(), scheduler.shutdown(wait=False)), daemon=True
            ).start()
        for row in job_table(scheduler):
            log.info("scheduled %s (%s), next at %s", row["job"], row["schedule"], row["next_run"])
        scheduler.start()
