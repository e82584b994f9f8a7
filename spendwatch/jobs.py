"""The scheduled jobs. Each loads settings afresh, opens the warehouse, does one thing, and logs
a one-line outcome; an exception is logged and the scheduler carries on with the next run."""

from __future__ import annotations

import datetime as dt
import logging

from alerts.outbox import deliver_pending, enqueue_reminders
from alerts.slack import build_sender
from collectors.registry import configured_names
from spendwatch.commands.collect import run_collectors
from spendwatch.config import load_settings
from spendwatch.wiring import open_warehouse

log = logging.getLogger(__name__)


def collect_job() -> None:
    settings = load_settings()
    names = configured_names(settings)
    if not names:
        log.warning("collect: no collector is configured; nothing to do")
        return
    engine = open_warehouse(settings)
    try:
        results, failures = run_collectors(engine, settings, names, now=_now())
    finally:
        engine.dispose()
    rows = sum(int(result.get("rows") or 0) for result in results)
    log.info("collect: %d source(s), %d row(s), %d failed", len(results), rows, len(failures))
    for reason in failures:
        log.error("collect: %s", reason)


def analyze_job() -> None:
    from spendwatch.commands.analyze import analyze_now, summary_line

    settings = load_settings()
    result = analyze_now(settings, as_of=_now())
    log.info("analyze: %s", summary_line(result))


def alert_job() -> None:
    settings = load_settings()
    if not (
        settings.slack.webhook_url.get_secret_value() or settings.slack.bot_token.get_secret_value()
    ):
        log.info("alert: Slack is not configured; notifications stay queued")
        return
    now = _now()
    engine = open_warehouse(settings)
    try:
        with engine.begin() as connection:
            enqueue_reminders(connection, settings=settings, as_of=now)
        report = deliver_pending(
            engine, sender=build_sender(settings.slack), settings=settings, as_of=now
        )
    finally:
        engine.dispose()
    (log.info if report.ok else log.error)("alert: %s", report.summary())


def report_job() -> None:
    from spendwatch.commands.report import build_report, previous_month_of

    settings = load_settings()
    now = _now()
    month = previous_month_of(now)
    files = build_report(settings, month=month, out_dir=settings.reports.out_dir, as_of=now)
    log.info("report: %s written to %s and %s", month, files.html, files.csv)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
