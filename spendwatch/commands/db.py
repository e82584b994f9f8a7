"""`spendwatch db ...`"""

from __future__ import annotations

import typer

from spendwatch.config import load_settings
from warehouse.db import make_engine, safe_url, upgrade

app = typer.Typer(help="Manage the warehouse schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command() -> None:
    """Apply Alembic migrations up to head (other commands do this on first use)."""
    settings = load_settings()
    engine = make_engine(settings.database.url)
    upgrade(engine)
    typer.echo(f"warehouse at {safe_url(settings.database.url)} is up to date")
