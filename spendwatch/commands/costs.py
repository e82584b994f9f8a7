"""`spendwatch costs`: exact cost totals from the warehouse, grouped and filtered by date."""

from __future__ import annotations

import datetime as dt
import enum

import typer

from spendwatch.cli_args import parse_day
from spendwatch.config import load_settings
from spendwatch.output import FormatOption, OutputFormat, emit
from spendwatch.wiring import open_warehouse
from warehouse.errors import InputError
from warehouse.queries.costs import GROUP_BY_CHOICES, cost_totals


class MetricChoice(enum.StrEnum):
    billed = "billed"
    effective = "effective"
    list = "list"


FROM_OPTION = typer.Option(None, "--from", help="First day (YYYY-MM-DD, UTC) of charges.")
TO_OPTION = typer.Option(None, "--to", help="Last day (YYYY-MM-DD, UTC) of charges, inclusive.")
GROUP_BY_OPTION = typer.Option(
    ["provider"], "--group-by", help="Repeatable: " + ", ".join(GROUP_BY_CHOICES)
)
METRIC_OPTION = typer.Option(
    MetricChoice.billed, "--metric", help="Sort by billed, effective or list cost."
)


def costs_command(
    date_from: str | None = FROM_OPTION,
    date_to: str | None = TO_OPTION,
    group_by: list[str] = GROUP_BY_OPTION,
    metric: MetricChoice = METRIC_OPTION,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Billed and effective cost per group and currency (currencies are never added up)."""
    first = parse_day(date_from, option="--from")
    last = parse_day(date_to, option="--to")
    if first and last and last < first:
        raise InputError(f"--to {last} is before --from {first}; swap them")
    start = dt.datetime.combine(first, dt.time(), dt.UTC) if first else None
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC) if last else None
    names = list(dict.fromkeys(name.strip().lower() for name in group_by))
    for name in names:
        if name not in GROUP_BY_CHOICES:
            raise InputError(
                f"--group-by {name}: unknown; choose from {', '.join(GROUP_BY_CHOICES)}"
            )
    settings = load_settings()
    engine = open_warehouse(settings)
    try:
        rows = cost_totals(
            engine,
            group_by=names,
            start=start,
            end=end,
            metric=metric.value,
            team_tag=settings.tags.team,
        )
    finally:
        engine.dispose()
    money = ["billed_cost", "effective_cost"] + (["list_cost"] if metric.value == "list" else [])
    emit(rows, columns=[*names, *money, "currency"], fmt=fmt, title="costs")
