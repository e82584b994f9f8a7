"""`spendwatch dashboard`: serve the Streamlit dashboard for the configured warehouse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import typer

from dashboard.auth import bind_refusal
from spendwatch.config import DashboardSettings, load_settings
from spendwatch.wiring import open_warehouse
from warehouse.db import safe_url
from warehouse.errors import InputError

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def secrets_files() -> list[Path]:
    """Where Streamlit looks for ``secrets.toml`` when started as we start it."""
    name = Path(".streamlit") / "secrets.toml"
    return [Path.home() / name, Path.cwd() / name, APP.parent / name]


def streamlit_command(*, address: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "none",  # pages report errors themselves, in one line; never a traceback
        "--client.toolbarMode",
        "viewer",
    ]


def serve_dashboard(
    database_url: str,
    *,
    address: str,
    port: int,
    settings: DashboardSettings | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> int:
    """Run Streamlit until it exits or Ctrl-C; returns its exit status.

    The database URL travels in the child's environment, never on its command line (where
    ``ps`` would show a password).
    """
    refusal = bind_refusal(address, settings or DashboardSettings(), secrets_files=secrets_files())
    if refusal is not None:
        raise InputError(refusal)
    environment = {**os.environ, "SPENDWATCH_DATABASE__URL": database_url}
    url = f"http://{'127.0.0.1' if address in ('0.0.0.0', 'localhost') else address}:{port}/"
    child = subprocess.Popen(streamlit_command(address=address, port=port), env=environment)
    # A service manager stops us with SIGTERM: treat it like Ctrl-C so Streamlit goes too.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if wait_until_healthy(url, child=child) and on_ready is not None:
            on_ready(url)
        return child.wait()
    except KeyboardInterrupt:
        child.terminate()  # Ctrl-C reached it too; make sure it goes
        try:
            return child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def wait_until_healthy(url: str, *, child: subprocess.Popen[bytes], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def dashboard_command(
    port: int | None = typer.Option(None, "--port", help="Port (default: dashboard.port, 8501)."),
    address: str | None = typer.Option(
        None,
        "--address",
        help="Address to bind (default: dashboard.address, 127.0.0.1). Any other address needs "
        '[dashboard] auth = "oidc" or "proxy-header".',
    ),
) -> None:
    """Serve the dashboard for the configured warehouse until Ctrl-C."""
    settings = load_settings()
    chosen_address = address or settings.dashboard.address
    chosen_port = port or settings.dashboard.port
    refusal = bind_refusal(chosen_address, settings.dashboard, secrets_files=secrets_files())
    if refusal is not None:  # refuse before touching the database
        raise InputError(refusal)
    open_warehouse(settings).dispose()  # migrate first: the dashboard itself never writes schema
    status = serve_dashboard(
        settings.database.url,
        address=chosen_address,
        port=chosen_port,
        settings=settings.dashboard,
        on_ready=lambda url: typer.echo(
            f"dashboard for {safe_url(settings.database.url)} at {url} (Ctrl-C to stop)"
        ),
    )
    raise typer.Exit(status)
