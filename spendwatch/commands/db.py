"""`spendwatch db ...`"""

from __future__ import annotations

import typer

from spendwatch.config import load_settings
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


@app.command("rebuild-rollups")
def rebuild_rollups_command() -> None:
    """Rebuild the daily cost rollup from the line items (after changing [tags] team, or for a
    warehouse loaded before the rollup existed) and the daily GPU rollup from gpu_hourly.
    One transaction: readers see old or new."""
    settings = load_settings()
    engine = open_warehouse(settings)
    try:
        with engine.begin() as connection:
            rows = refresh_rollups(connection, EVERYTHING, team_tag=settings.tags.team)
            gpu_rows = rebuild_gpu_daily(connection)
    finally:
        engine.dispose()
    typer.echo(
        f"rebuilt {rows} daily rollup row(s) with team tag {settings.tags.team!r} and "
        f"{gpu_rows} daily GPU rollup row(s) in {safe_url(settings.database.url)}"
    )
