"""The `spendwatch` command line. Every failure exits non-zero with one line on stderr."""

from __future__ import annotations

import logging
import sys
from typing import Any

import typer

from spendwatch.commands import (
    agent,
    alert,
    analyze,
    collect,
    costs,
    dashboard,
    db,
    demo,
    findings,
    ingest,
    report,
    serve,
)
from spendwatch.config import ConfigError
from warehouse.db import DatabaseError
from warehouse.errors import SpendwatchError

app = typer.Typer(
    name="spendwatch",
    help="FinOps monitoring and cost alerting for AI infrastructure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(ingest.app, name="ingest")
app.command("costs")(costs.costs_command)
app.command("collect")(collect.collect)
app.command("alert")(alert.alert_command)
app.command("analyze")(analyze.analyze_command)
app.command("dashboard")(dashboard.dashboard_command)
app.command("serve")(serve.serve_command)
app.command("demo")(demo.demo_command)
app.add_typer(findings.app, name="findings")
app.command("savings")(findings.savings_command)
app.command("agent")(agent.agent_command)
app.command("report")(report.report_command)


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress to stderr."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run(argv: list[str] | None = None) -> Any:
    """Entry point: known errors become one line on stderr and exit status 1."""
    try:
        return app(args=argv)
    except (SpendwatchError, ConfigError, DatabaseError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
