"""`spendwatch db ...`"""

from __future__ import annotations

import typer
from rich.console import Console

from spendwatch.config import Settings, load_settings
from spendwatch.progress import Steps, counted, step_list
from spendwatch.wiring import open_warehouse
from warehouse.db import make_engine, safe_url, upgrade
from warehouse.gpu_rollup_daily import rebuild_gpu_daily
from warehouse.rollups import EVERYTHING, refresh_rollups

app = typer.Typer(help="Manage the warehouse schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command() -> None:
    """Apply Alembic migrations up to head (other commands do this on first use)."""
    settings = load_settings()
    engine = make_engine(settings.database.url)
    upgrade(engine)
    typer.echo(f"warehouse at {safe_url(settings.database.url)} is up to date")


def rebuild_rollups(settings: Settings, *, console: Console | None = None) -> tuple[int, int]:
    """Both daily rollups in one transaction; returns their row counts (cost, GPU).

    A step per rollup goes to ``console`` (stderr by default) when it is a terminal.
    """
    engine = open_warehouse(settings)
    try:
        with step_list(console) as progress, engine.begin() as connection:
            steps = Steps(progress)
            with steps.step("cost rollup (cost_daily)") as step:
                rows = refresh_rollups(connection, EVERYTHING, team_tag=settings.tags.team)
                step.report(counted(rows, "row"))
            with steps.step("GPU rollup (gpu_daily)") as step:
                gpu_rows = rebuild_gpu_daily(connection)
                step.report(counted(gpu_rows, "row"))
    finally:
        engine.dispose()
    return rows, gpu_rows


@app.command("rebuild-rollups")
def rebuild_rollups_command() -> None:
    """Rebuild the daily cost rollup from the line items (after changing [tags] team, or for a
    warehouse loaded before the rollup existed) and the daily GPU rollup from gpu_hourly.
    One transaction: readers see old or new."""
    settings = load_settings()
    rows, gpu_rows = rebuild_rollups(settings)
    typer.echo(
        f"rebuilt {rows} daily rollup row(s) with team tag {settings.tags.team!r} and "
        f"{gpu_rows} daily GPU rollup row(s) in {safe_url(settings.database.url)}"
    )
