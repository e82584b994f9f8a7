"""`spendwatch collect [SOURCE...] [--since DATE] [--until DATE]`, and `collect --list`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from sqlalchemy.engine import Engine

from collectors.base import run_collector
from collectors.registry import (
    REGISTRY,
    build_collector,
    collector_names,
    configured_names,
    spec_for,
)
from spendwatch.cli_args import parse_optional_utc
from spendwatch.config import Settings, load_settings
from spendwatch.output import FormatOption, OutputFormat, emit
from spendwatch.progress import NO_STEPS, Steps, counted, step_list
from spendwatch.wiring import open_warehouse
from warehouse.errors import InputError
from warehouse.runs import last_runs

RUN_COLUMNS = ("source", "status", "since", "until", "rows", "watermark", "error")
LIST_COLUMNS = (
    "name",
    "configured",
    "last_run",
    "status",
    "rows",
    "watermark",
    "error",
    "description",
)


def run_collectors(
    engine: Engine,
    settings: Settings,
    names: Sequence[str],
    *,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    steps: Steps = NO_STEPS,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run each named collector once; one failing source never stops the others.

    Returns one result row per source and the one-line reasons of those that failed. The CLI and
    the scheduler's collect job both come through here; only the CLI passes ``steps`` that draw
    (a line per collector: a spinner while it runs, then its status and rows).
    """
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for name in names:
        with steps.step(name) as step:
            result = _run_one(engine, settings, name, now=now, since=since, until=until)
            rows = counted(result.get("rows") or 0, "row")
            step.report(f"{result['status']}, {rows}", failed=bool(result["error"]))
        results.append(result)
        if result["error"]:
            failures.append(result["error"])
    return results, failures


def _run_one(
    engine: Engine,
    settings: Settings,
    name: str,
    *,
    now: dt.datetime,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> dict[str, Any]:
    try:
        collector = build_collector(name, settings)
    except InputError as exc:  # a misconfigured source is a failed run, not a crash
        return {"source": name, "status": "failed", "error": str(exc)}
    outcome = run_collector(engine, collector, now=now, since=since, until=until)
    return {
        "source": outcome.source,
        "status": outcome.status,
        "since": outcome.since,
        "until": outcome.until,
        "rows": outcome.rows,
        "watermark": outcome.watermark,
        "error": outcome.error,
    }


def collect(
    sources: Annotated[
        list[str] | None,
        typer.Argument(metavar="SOURCE", help="Collectors to run (default: all configured)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Window start (default: last watermark minus lookback).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Window end, exclusive (default: now).")] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="List the collectors and their last run; run nothing.")
    ] = False,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Run the configured collectors once; exit 1 if any source failed."""
    settings = load_settings()
    start = parse_optional_utc(since, option="--since")
    end = parse_optional_utc(until, option="--until")
    names = list(sources or [])
    for name in names:
        spec_for(name)  # refuse an unknown name before touching the warehouse
    engine = open_warehouse(settings)
    if list_only:
        _list(engine, configured=set(configured_names(settings)), fmt=fmt)
        return
    if not names:
        names = configured_names(settings)
        if not names:
            raise InputError(
                "no collector is configured; set SPENDWATCH_PROMETHEUS__URL (or another "
                "source) in the environment or spendwatch.toml; known collectors: "
                + ", ".join(collector_names())
            )
    with step_list() as progress:
        results, failures = run_collectors(
            engine,
            settings,
            names,
            now=dt.datetime.now(dt.UTC),
            since=start,
            until=end,
            steps=Steps(progress),
        )
    emit(results, columns=RUN_COLUMNS, fmt=fmt, title="collector runs")
    for reason in failures:
        typer.echo(f"error: {reason}", err=True)
    if failures:
        raise typer.Exit(1)


def _list(engine: Any, *, configured: set[str], fmt: OutputFormat) -> None:
    runs = last_runs(engine)
    rows = []
    for name in collector_names():
        run = runs.get(name)
        rows.append(
            {
                "name": name,
                "configured": name in configured,
                "description": REGISTRY[name].description,
                "last_run": run.started_at if run else None,
                "status": run.status if run else "never run",
                "rows": run.rows if run else None,
                "watermark": run.watermark if run else None,
                "error": run.error if run else None,
            }
        )
    emit(rows, columns=LIST_COLUMNS, fmt=fmt, title="collectors")
