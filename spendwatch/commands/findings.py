"""`spendwatch findings ...` (list, snooze, dismiss, reopen) and `spendwatch savings`."""

from __future__ import annotations

import datetime as dt

import typer

from spendwatch.cli_args import parse_utc
from spendwatch.config import load_settings
from spendwatch.output import FormatOption, OutputFormat, emit
from spendwatch.wiring import open_warehouse
from warehouse.findings_store import Action, list_findings, savings_totals, set_finding_status

app = typer.Typer(help="List findings and act on them (snooze, dismiss, reopen).")

JSON_COLUMNS: tuple[str, ...] = (
    "id",
    "kind",
    "resource_id",
    "provider",
    "account_id",
    "region",
    "owner",
    "team",
    "status",
    "confidence",
    "monthly_savings",
    "currency",
    "first_seen",
    "last_seen",
    "recommendation",
    "evidence",
    "snoozed_until",
    "dismissed_reason",
    "resolved_at",
    "realized_monthly_savings",
)
TABLE_COLUMNS: tuple[str, ...] = (
    "id",
    "kind",
    "resource_id",
    "owner",
    "status",
    "confidence",
    "monthly_savings",
    "currency",
    "last_seen",
    "recommendation",
)
SAVINGS_COLUMNS: tuple[str, ...] = (
    "group",
    "key",
    "currency",
    "findings",
    "monthly_savings",
    "realized_monthly_savings",
)


@app.callback(invoke_without_command=True)
def list_command(
    ctx: typer.Context,
    kind: str | None = typer.Option(None, "--kind", help="e.g. idle_gpu, unmonitored_gpu."),
    status: str | None = typer.Option(
        None, "--status", help="open, snoozed, dismissed or resolved."
    ),
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """List findings, largest monthly saving first."""
    if ctx.invoked_subcommand is not None:
        return
    engine = open_warehouse(load_settings())
    try:
        rows = list_findings(engine, kind=kind, status=status)
    finally:
        engine.dispose()
    columns = TABLE_COLUMNS if fmt is OutputFormat.table else JSON_COLUMNS
    emit(rows, columns=columns, fmt=fmt, title="Findings")


def _act(
    finding_id: int,
    *,
    action: Action,
    until: dt.datetime | None = None,
    reason: str | None = None,
) -> None:
    engine = open_warehouse(load_settings())
    try:
        row = set_finding_status(
            engine,
            finding_id=finding_id,
            action=action,
            until=until,
            reason=reason,
            at=dt.datetime.now(dt.UTC),
        )
    finally:
        engine.dispose()
    extra = ""
    if row["snoozed_until"] is not None:
        extra = " until " + row["snoozed_until"].isoformat().replace("+00:00", "Z")
    typer.echo(
        f"finding {finding_id} ({row['kind']} {row['resource_id']}) is {row['status']}{extra}"
    )


@app.command("snooze")
def snooze_command(
    finding_id: int = typer.Argument(..., help="The finding's id."),
    until: str = typer.Option(..., "--until", help="Date or timestamp (UTC) to snooze until."),
) -> None:
    """Hide a finding until a date; it reopens then if the rule still finds it."""
    _act(finding_id, action="snooze", until=parse_utc(until, option="--until"))


@app.command("dismiss")
def dismiss_command(
    finding_id: int = typer.Argument(..., help="The finding's id."),
    reason: str = typer.Option(..., "--reason", help="Why this is not worth acting on."),
) -> None:
    """Dismiss a finding for good (it stays dismissed while the rule keeps finding it)."""
    _act(finding_id, action="dismiss", reason=reason)


@app.command("reopen")
def reopen_command(finding_id: int = typer.Argument(..., help="The finding's id.")) -> None:
    """Undo a snooze or a dismissal."""
    _act(finding_id, action="reopen")


def savings_command(fmt: FormatOption = OutputFormat.table) -> None:
    """Monthly savings of open and snoozed findings, by kind and by owner, never double-counted."""
    engine = open_warehouse(load_settings())
    try:
        rows = savings_totals(engine)
    finally:
        engine.dispose()
    emit(rows, columns=SAVINGS_COLUMNS, fmt=fmt, title="Monthly savings")
