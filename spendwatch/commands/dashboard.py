"""`spendwatch dashboard`: serve the Streamlit dashboard for the configured warehouse."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import typer

from spendwatch.config import load_settings
from spendwatch.wiring import open_warehouse
from warehouse.db import safe_url
from warehouse.errors import InputError

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


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
    on_ready: Callable[[str], None] | None = None,
) -> int:
    """Run Streamlit until it exits or Ctrl-C; returns its exit status.

    The database URL travels in the child's environment, never on its command line (where
    ``ps`` would show a password).
    """
    if not is_loopback(address):
        raise InputError(
            f"refusing to serve the dashboard on {address}: it has no authentication yet; "
            "use --address 127.0.0.1 and put an authenticating reverse proxy in front of it"
        )
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
        help="Address to bind (default: dashboard.address, 127.0.0.1). Only loopback for now: "
        "the dashboard has no login yet.",
    ),
) -> None:
    """Serve the dashboard for the configured warehouse until Ctrl-C."""
    settings = load_settings()
    chosen_address = address or settings.dashboard.address
    chosen_port = port or settings.dashboard.port
    if not is_loopback(chosen_address):  # refuse before touching the database
        serve_dashboard("", address=chosen_address, port=chosen_port)
    open_warehouse(settings).dispose()  # migrate first: the dashboard itself never writes schema
    status = serve_dashboard(
        settings.database.url,
        address=chosen_address,
        port=chosen_port,
        on_ready=lambda url: typer.echo(
            f"dashboard for {safe_url(settings.database.url)} at {url} (Ctrl-C to stop)"
        ),
    )
    raise typer.Exit(status)
