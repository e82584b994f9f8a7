"""`spendwatch ingest focus PATH...`: load FOCUS billing files as one delivery."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import typer
from babel.numbers import is_currency
from rich.console import Console
from rich.progress import Progress

from collectors.focus_files import FocusFile, FocusOptions
from spendwatch.cli_args import parse_optional_utc
from spendwatch.config import Settings, load_settings
from spendwatch.output import FormatOption, OutputFormat, emit
from spendwatch.progress import progress_bar
from spendwatch.wiring import open_warehouse
from warehouse.errors import InputError
from warehouse.load import FOCUS_SOURCE, load_focus_batches

log = logging.getLogger(__name__)

app = typer.Typer(help="Load billing files into the warehouse.", no_args_is_help=True)

COLUMNS: tuple[str, ...] = ("path", "format", "rows", "ignored_columns")


@dataclass
class IngestSummary:
    load_id: str
    rows: int
    replaced_rows: int
    seconds: float = 0.0  # wall time of the load, from opening the first file to the commit
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_per_second(self) -> int:
        return round(self.rows / self.seconds) if self.seconds > 0 else 0


def ingest_focus_files(
    settings: Settings,
    paths: Sequence[str],
    *,
    provider_hint: str | None = None,
    currency: str | None = None,
    console: Console | None = None,
) -> IngestSummary:
    """Read every file and load them as ONE delivery (one transaction, one load id).

    A progress bar per file goes to ``console`` (stderr by default) when it is a terminal.
    """
    default_currency = (currency or settings.ingest.default_currency).strip().upper()
    if not is_currency(default_currency):
        raise InputError(
            f"--currency {default_currency}: not an ISO 4217 currency code; use e.g. USD or EUR"
        )
    options = FocusOptions(
        provider_hint=provider_hint,
        default_currency=default_currency,
        batch_rows=settings.ingest.batch_rows,
    )
    s3_client = _s3_client(settings) if any(p.startswith("s3://") for p in paths) else None
    files = [FocusFile(path, options=options, s3_client=s3_client) for path in paths]
    engine = open_warehouse(settings)
    started = time.perf_counter()
    try:
        with progress_bar(console) as progress:
            result = load_focus_batches(
                engine,
                _reported(files, progress),
                source=FOCUS_SOURCE,
                details={"files": list(paths), "provider_hint": provider_hint},
            )
            for task in progress.tasks:
                if task.total is None:  # the finishing step is done: stop its spinner
                    progress.update(task.id, total=1.0, completed=1.0, detail="done")
    finally:
        engine.dispose()
    summary = IngestSummary(
        result.load_id, result.rows, result.replaced_rows, time.perf_counter() - started
    )
    for file in files:
        summary.files.append(
            {
                "path": file.location,
                "format": file.format,
                "rows": file.rows,
                "ignored_columns": file.ignored_columns,
            }
        )
    return summary


def _reported(files: Sequence[FocusFile], progress: Progress) -> Iterator[pa.RecordBatch]:
    """The files' batches in order, moving each file's bar as its batches pass."""
    for file in files:
        name = Path(file.location).name or file.location
        task = progress.add_task(f"reading {name}", total=1.0, detail="0 rows")
        for batch in file:
            fraction = file.fraction_read
            if fraction is not None:
                progress.update(task, completed=fraction)
            progress.update(task, detail=f"{file.rows:,} rows")
            yield batch
        progress.update(task, completed=1.0, detail=f"{file.rows:,} rows")
    # After the last batch the load writes the daily rollup and commits: seconds on a large
    # delivery, shown rather than left as a bar stuck at 100%.
    progress.add_task("rolling up, committing", total=None, detail="")


def _s3_client(settings: Settings) -> Any:
    import boto3  # boto3's default chain; it honours AWS_ENDPOINT_URL by itself

    return boto3.client("s3", region_name=settings.aws.region)


PATHS_ARGUMENT = typer.Argument(..., help="FOCUS CSV, CSV.gz or Parquet; local or s3://")
PROVIDER_OPTION = typer.Option(
    None, "--provider-hint", help="ProviderName for files that lack it (else 'unknown')."
)
CURRENCY_OPTION = typer.Option(
    None, "--currency", help="BillingCurrency for files that lack it (default: settings)."
)


@app.command("focus")
def focus_command(
    paths: list[str] = PATHS_ARGUMENT,
    provider_hint: str | None = PROVIDER_OPTION,
    currency: str | None = CURRENCY_OPTION,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Load FOCUS 1.0/1.1/1.2 files as one delivery: re-runs and restated months replace."""
    summary = ingest_focus_files(
        load_settings(), paths, provider_hint=provider_hint, currency=currency
    )
    if fmt is OutputFormat.json:
        emit(
            [
                {
                    "load_id": summary.load_id,
                    "rows": summary.rows,
                    "replaced_rows": summary.replaced_rows,
                    "seconds": round(summary.seconds, 2),
                    "files": summary.files,
                }
            ],
            columns=("load_id", "rows", "replaced_rows", "seconds", "files"),
            fmt=fmt,
        )
        return
    title = (
        f"load {summary.load_id}: {summary.rows:,} rows in {summary.seconds:,.1f} s "
        f"({summary.rows_per_second:,} rows/s), {summary.replaced_rows:,} earlier rows replaced"
    )
    emit(summary.files, columns=COLUMNS, fmt=fmt, title=title)


NVIDIA_SMI_COLUMNS: tuple[str, ...] = ("path", "format", "samples", "rows")


@app.command("nvidia-smi")
def nvidia_smi_command(
    path: str = typer.Argument(..., help="nvidia-smi --query-gpu=... --format=csv, or -q -x XML"),
    resource_id: str | None = typer.Option(
        None, "--resource-id", help="The host's resource id (default: the hostname column)."
    ),
    at: str | None = typer.Option(
        None, "--at", help="When the file was captured, if it carries no timestamp (UTC)."
    ),
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Load nvidia-smi output as hourly GPU rollups (source nvml); re-loading replaces."""
    from collectors.nvidia_smi_files import ingest_nvidia_smi_file

    moment = parse_optional_utc(at, option="--at")
    engine = open_warehouse(load_settings())
    try:
        result = ingest_nvidia_smi_file(engine, path, resource_id=resource_id, at=moment)
    finally:
        engine.dispose()
    row = {"path": result.path, "format": result.format, "samples": result.samples}
    emit([{**row, "rows": result.rows}], columns=NVIDIA_SMI_COLUMNS, fmt=fmt, title="gpu_hourly")
