"""`spendwatch serve`: run collect, analyze and alert on their schedules until stopped."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from spendwatch.config import load_settings
from spendwatch.output import FormatOption, OutputFormat, emit
from spendwatch.scheduler import build_scheduler, job_table, serve
from spendwatch.wiring import open_warehouse

JOB_COLUMNS = ("job", "schedule", "next_run", "does")


def serve_command(
    standby: Annotated[
        bool,
        typer.Option(
            "--standby",
            help="If another `serve` holds the lease, wait and take over when it stops.",
        ),
    ] = False,
    list_only: Annotated[
        bool, typer.Option("--list", help="Show the schedule and next run times; run nothing.")
    ] = False,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Run the scheduler (one per warehouse; a second one refuses unless --standby)."""
    if list_only:
        emit(job_table(build_scheduler()), columns=JOB_COLUMNS, fmt=fmt, title="schedule")
        return
    settings = load_settings()
    # The scheduler is a long-running service: log progress even without --verbose.
    logging.getLogger().setLevel(logging.INFO)
    engine = open_warehouse(settings)
    typer.echo("spendwatch serve: scheduler started; Ctrl-C to stop", err=True)
    try:
        serve(engine, standby=standby)
    except KeyboardInterrupt:
        typer.echo("spendwatch serve: stopped", err=True)
    finally:
        engine.dispose()
