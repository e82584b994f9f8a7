"""`spendwatch report --month YYYY-MM [--out DIR]`: the monthly rightsizing report, as
``spendwatch-report-YYYY-MM.html`` (self-contained) and ``.csv`` (every open recommendation)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated

import typer

from reports.monthly import monthly_report
from reports.render import ReportFiles, write_report
from spendwatch.config import Settings, load_settings
from spendwatch.output import OutputFormat, emit
from spendwatch.wiring import open_warehouse
from warehouse.errors import InputError

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def parse_month(text: str, *, now: dt.datetime) -> str:
    """``YYYY-MM``, not after the month ``now`` is in (a month in progress is allowed)."""
    month = text.strip()
    if not _MONTH.match(month):
        raise InputError(f"--month {text!r} is not a month; use YYYY-MM such as 2024-09")
    if month > now.strftime("%Y-%m"):
        raise InputError(
            f"--month {month} is in the future; the latest month to report is "
            f"{now.strftime('%Y-%m')}"
        )
    return month


def previous_month_of(now: dt.datetime) -> str:
    return (now.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")


def build_report(
    settings: Settings, *, month: str, out_dir: Path, as_of: dt.datetime
) -> ReportFiles:
    """Read the warehouse for ``month`` and write both files into ``out_dir``."""
    engine = open_warehouse(settings)
    try:
        with engine.connect() as connection:
            report = monthly_report(
                connection,
                month=month,
                as_of=as_of,
                team_tag=settings.tags.team,
                top_n=settings.reports.top_recommendations,
            )
    finally:
        engine.dispose()
    return write_report(report, out_dir)


def report_command(
    month: Annotated[str, typer.Option("--month", help="The month to report, YYYY-MM (UTC).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the files; default [reports] out_dir."),
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table or json: how the paths are printed.")
    ] = OutputFormat.table,
) -> None:
    """Write the monthly rightsizing report (HTML + CSV) and print where."""
    now = dt.datetime.now(dt.UTC)
    chosen = parse_month(month, now=now)
    settings = load_settings()
    files = build_report(settings, month=chosen, out_dir=out or settings.reports.out_dir, as_of=now)
    if fmt is OutputFormat.table:
        typer.echo(str(files.html))
        typer.echo(str(files.csv))
        return
    rows = [
        {"month": chosen, "file": "html", "path": str(files.html)},
        {"month": chosen, "file": "csv", "path": str(files.csv)},
    ]
    emit(rows, columns=["month", "file", "path"], fmt=fmt)
