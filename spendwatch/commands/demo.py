"""`spendwatch demo`: build the demo warehouse, then serve the dashboard on it."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from spendwatch.commands.dashboard import serve_dashboard
from spendwatch.demo import build_demo, shared_data_dir

DEFAULT_DATA_DIR = Path("demo-data")


def demo_command(
    no_browser: bool = typer.Option(
        False, "--no-browser", help="Do not open a browser; print the URL and serve until Ctrl-C."
    ),
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", help="Folder for the demo warehouse (rebuilt each run)."),
    ] = DEFAULT_DATA_DIR,
    port: int = typer.Option(8501, "--port", help="Dashboard port on 127.0.0.1."),
) -> None:
    """Build a demo warehouse (public samples + a generated GPU fleet) and open the dashboard."""
    summary = build_demo(data_dir, shared_data=shared_data_dir())
    typer.echo(
        f"demo warehouse {summary.data_dir / 'spendwatch-demo.db'} built in "
        f"{summary.seconds:.1f} s: {summary.sample_rows} sample billing rows, "
        f"{summary.hosts} GPU hosts ({summary.fleet_billing_rows} billing rows, "
        f"{summary.gpu_hourly_rows} GPU-hours), {summary.findings} findings"
    )

    def ready(url: str) -> None:
        typer.echo(f"dashboard at {url} (Ctrl-C to stop)")
        if not no_browser:
            webbrowser.open(url)

    status = serve_dashboard(summary.database_url, address="127.0.0.1", port=port, on_ready=ready)
    raise typer.Exit(status)
