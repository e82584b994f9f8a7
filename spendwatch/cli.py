"""The `spendwatch` command line. Every failure exits non-zero with one line on stderr."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any, NamedTuple

import typer
from typer.core import TyperGroup

from spendwatch.config import ConfigError
from warehouse.db import DatabaseError
from warehouse.errors import SpendwatchError


class _Entry(NamedTuple):
    module: str  # under spendwatch.commands
    attribute: str  # a typer.Typer sub-app or a command function


# Each command's module is imported only when that command runs (or help lists it): the
# modules pull in pandas, boto3, APScheduler or the analytics, and `ingest focus` alone
# would otherwise carry ~55 MB of them in a process whose memory budget is 300 MB.
COMMANDS: dict[str, _Entry] = {
    "db": _Entry("db", "app"),
    "ingest": _Entry("ingest", "app"),
    "costs": _Entry("costs", "costs_command"),
    "collect": _Entry("collect", "collect"),
    "alert": _Entry("alert", "alert_command"),
    "analyze": _Entry("analyze", "analyze_command"),
    "dashboard": _Entry("dashboard", "dashboard_command"),
    "serve": _Entry("serve", "serve_command"),
    "demo": _Entry("demo", "demo_command"),
    "findings": _Entry("findings", "app"),
    "savings": _Entry("findings", "savings_command"),
    "agent": _Entry("agent", "agent_command"),
    "report": _Entry("report", "report_command"),
}


class _LazyCommands(TyperGroup):
    """Top-level commands built from their module on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"spendwatch.commands.{entry.module}")
        target = getattr(module, entry.attribute)
        command: Any  # typer's vendored click.Command
        if isinstance(target, typer.Typer):  # a command group: db, ingest, findings
            command = typer.main.get_group(target)
        else:
            single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        return command


app = typer.Typer(
    name="spendwatch",
    help="FinOps monitoring and cost alerting for AI infrastructure.",
    cls=_LazyCommands,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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
