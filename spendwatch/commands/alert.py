"""`spendwatch alert [--dry-run]`: queue due reminders, then post pending notifications to Slack."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from alerts.outbox import deliver_pending, enqueue_reminders, preview_pending
from alerts.slack import build_sender
from spendwatch.cli_args import parse_utc
from spendwatch.config import load_settings
from spendwatch.output import OutputFormat, emit
from spendwatch.wiring import open_warehouse
from warehouse.errors import DeliveryError

PREVIEW_COLUMNS = ("channel", "thread_ts", "text")


def alert_command(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the messages that would be posted; change nothing."),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Treat this ISO 8601 time (UTC when no zone) as now."),
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="Output format for --dry-run.")
    ] = OutputFormat.table,
) -> None:
    """Deliver pending notifications to Slack (webhook or bot token, from the slack settings)."""
    settings = load_settings()
    moment = parse_utc(as_of, option="--as-of") if as_of else dt.datetime.now(dt.UTC)
    engine = open_warehouse(settings)
    try:
        if dry_run:
            posts = preview_pending(engine, settings=settings, as_of=moment)
            if fmt is OutputFormat.json:
                typer.echo(json.dumps(posts, indent=2, ensure_ascii=False))
            else:
                emit(posts, columns=PREVIEW_COLUMNS, fmt=fmt, title="would post")
            return
        sender = build_sender(settings.slack)
        with engine.begin() as connection:
            enqueue_reminders(connection, settings=settings, as_of=moment)
        report = deliver_pending(engine, sender=sender, settings=settings, as_of=moment)
    finally:
        engine.dispose()
    if not report.ok:
        raise DeliveryError(report.summary())
    typer.echo(report.summary())
