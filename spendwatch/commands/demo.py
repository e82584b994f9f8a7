"""`spendwatch demo`: build the demo warehouse, then serve the dashboard on it."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from spendwatch.commands.dashboard import serve_dashboard
from spendwatch.demo import DEMO_DB, DemoSummary, build_demo, shared_data_dir

DEFAULT_DATA_DIR = Path("demo-data")
STATUS_ORDER = ("open", "snoozed", "dismissed", "resolved")


def summary_lines(summary: DemoSummary) -> list[str]:
    """What was built, what the history left behind, and how to see the queued alerts."""
    counts = ", ".join(
        f"{summary.statuses[status]} {status}"
        for status in STATUS_ORDER
        if summary.statuses.get(status)
    )
    stamp = summary.as_of.isoformat().replace("+00:00", "Z")
    return [
        f"demo warehouse {summary.data_dir / DEMO_DB} built in {summary.seconds:.1f} s: "
        f"{summary.sample_rows} sample billing rows, {summary.hosts} GPU hosts "
        f"({summary.fleet_billing_rows} billing rows; {summary.telemetry_samples} nvidia-smi "
        f"samples in {summary.telemetry_files} logs -> {summary.gpu_hourly_rows} GPU-hours)",
        f"analyzed daily at 12:00 UTC for {summary.analyses - 1} days, then as of {stamp}: "
        f"{sum(summary.statuses.values())} findings ({counts or 'none'}); "
        f"{summary.pending_alerts} Slack notifications queued",
        f"see them: SPENDWATCH_DATABASE__URL={summary.database_url} "
        f"spendwatch alert --dry-run --as-of {stamp}",
    ]


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
    """Build a demo warehouse (public samples + a generated GPU fleet with two weeks of
    findings and queued alerts) and open the dashboard."""
    summary = build_demo(data_dir, shared_data=shared_data_dir())
    for line in summary_lines(summary):
        typer.echo(line)

    def ready(url: str) -> None:
        typer.echo(f"dashboard at {url} (Ctrl-C to stop)")
        if not no_browser:
            webbrowser.open(url)

    status = serve_dashboard(summary.database_url, address="127.0.0.1", port=port, on_ready=ready)
    raise typer.Exit(status)
