"""The demo's past: the analysis as it would have run every day at 12:00 UTC for two weeks,
then two people's actions on its findings.

Each run goes through :func:`spendwatch.commands.analyze.analyze_now`, what ``spendwatch
analyze`` and the scheduler's analyze job run, so its findings change state exactly as in
production and the Slack notifications those changes call for are queued in the outbox (and
stay there: the demo has no Slack). Before each run the day's storage inventory arrives, as the
nightly inventory report would deliver it; billing and telemetry are already loaded, and every
rule reads only the window that ends at the run's ``as_of``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from spendwatch import demo_storage
from spendwatch.commands.analyze import AnalysisResult, analyze_now
from spendwatch.config import Settings
from warehouse.findings_store import list_findings, set_finding_status
from warehouse.load_storage import load_storage
from warehouse.schema import findings, notification_outbox

HISTORY_DAYS = 14
RUN_HOUR = 12  # UTC
SNOOZE_DAYS = 14
DISMISSED_PREFIX = "s3://acme-training-logs/jobs/stdout/"
DISMISS_REASON = (
    "kept in STANDARD on purpose: on-call reads a month of job logs back in incident reviews"
)


def run_times(
    *, as_of: dt.datetime, days: int, history_days: int = HISTORY_DAYS
) -> list[dt.datetime]:
    """12:00 UTC on each of the last ``history_days`` days before ``as_of`` that has a full day
    of the fleet's data behind it, then ``as_of`` itself."""
    midnight = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    earliest = as_of - dt.timedelta(days=days - 1)
    runs = [
        midnight - dt.timedelta(days=back) + dt.timedelta(hours=RUN_HOUR)
        for back in range(history_days, 0, -1)
    ]
    return [*(run for run in runs if earliest <= run < as_of), as_of]


def replay(
    engine: Engine,
    *,
    settings: Settings,
    times: list[dt.datetime],
    on_run: Callable[[int], None] | None = None,
) -> tuple[list[AnalysisResult], int]:
    """The day's storage snapshot, then the analysis, at each of ``times``; returns the
    analyses and the storage rows loaded. ``on_run`` hears how many runs are done."""
    results, storage_rows = [], 0
    for moment in times:
        storage_rows += load_storage(engine, demo_storage.storage_estate(as_of=moment))
        results.append(analyze_now(settings, as_of=moment))
        if on_run is not None:
            on_run(len(results))
    return results, storage_rows


def triage(engine: Engine, *, at: dt.datetime) -> dict[str, int]:
    """Snooze the largest open rightsizing finding for two weeks (its team has a migration
    planned) and dismiss the job-log prefix's cold_storage finding with the team's reason,
    through the same function as ``spendwatch findings`` and the dashboard; returns the ids."""
    open_rows = list_findings(engine, status="open")  # largest saving first
    acted: dict[str, int] = {}
    resize = [row for row in open_rows if row["kind"] == "gpu_rightsizing"]
    if resize:
        set_finding_status(
            engine,
            finding_id=resize[0]["id"],
            action="snooze",
            until=at + dt.timedelta(days=SNOOZE_DAYS),
            at=at,
        )
        acted["snoozed"] = resize[0]["id"]
    logs = [
        row
        for row in open_rows
        if row["kind"] == "cold_storage" and row["resource_id"] == DISMISSED_PREFIX
    ]
    if logs:
        set_finding_status(
            engine, finding_id=logs[0]["id"], action="dismiss", reason=DISMISS_REASON, at=at
        )
        acted["dismissed"] = logs[0]["id"]
    return acted


def statuses(engine: Engine) -> dict[str, Any]:
    """Findings per status and notifications waiting in the outbox, for the summary line."""
    with engine.connect() as connection:
        by_status: dict[str, int] = {
            status: int(count)
            for status, count in connection.execute(
                sa.select(findings.c.status, sa.func.count()).group_by(findings.c.status)
            )
        }
        pending = connection.scalar(
            sa.select(sa.func.count())
            .select_from(notification_outbox)
            .where(notification_outbox.c.status == "pending")
        )
    return {"findings": by_status, "pending_alerts": int(pending or 0)}
