"""`spendwatch agent [--interval S] [--serve-metrics PORT] [--once]`: the NVML host agent."""

from __future__ import annotations

import datetime as dt
import signal
import socket
import threading
from typing import Annotated

import typer

from collectors.nvml_agent import NvmlAgent, run_agent, serve_metrics
from collectors.nvml_source import NvmlSession
from spendwatch.config import load_settings
from spendwatch.output import FormatOption, OutputFormat, emit
from spendwatch.wiring import open_warehouse
from warehouse.errors import InputError

ONCE_COLUMNS = (
    "index",
    "uuid",
    "name",
    "util_percent",
    "mem_used_bytes",
    "mem_total_bytes",
    "power_watts",
    "mig_enabled",
)


def agent_command(
    interval: Annotated[
        float | None,
        typer.Option(help="Seconds between samples (default: \\[agent] interval_seconds)."),
    ] = None,
    serve_metrics_port: Annotated[
        int | None,
        typer.Option(
            "--serve-metrics",
            metavar="PORT",
            help="Serve /metrics in dcgm-exporter names instead of writing to the warehouse.",
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Read every GPU once, print it and exit.")
    ] = False,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Sample this host's GPUs through NVML; write hourly rollups (source nvml) or serve them."""
    settings = load_settings()
    seconds = interval if interval is not None else settings.agent.interval_seconds
    if seconds <= 0:
        raise InputError(f"--interval {seconds}: must be a positive number of seconds")
    hostname = socket.gethostname()
    resource_id = settings.agent.resource_id.strip() or hostname
    with NvmlSession() as session:
        if once:
            readings = NvmlAgent(session, resource_id=resource_id).sample(
                now=dt.datetime.now(dt.UTC)
            )
            rows = [{c: getattr(r, c) for c in ONCE_COLUMNS} for r in readings]
            emit(rows, columns=ONCE_COLUMNS, fmt=fmt, title=f"GPUs on {resource_id}")
            return
        engine = None if serve_metrics_port is not None else open_warehouse(settings)
        agent = NvmlAgent(session, resource_id=resource_id, engine=engine)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        server = None
        if serve_metrics_port is not None:
            address = settings.agent.metrics_address
            try:
                server = serve_metrics(
                    agent, hostname=hostname, address=address, port=serve_metrics_port
                )
            except OSError as exc:
                raise InputError(
                    f"--serve-metrics {serve_metrics_port}: cannot listen on {address} "
                    f"({exc.strerror}); pick a free port"
                ) from None
            typer.echo(f"serving /metrics on http://{address}:{server.server_port}", err=True)
        try:
            run_agent(agent, interval_seconds=seconds, stop=stop)
        finally:
            if server is not None:
                server.shutdown()
            if engine is not None:
                engine.dispose()
