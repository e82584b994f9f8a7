"""Build the demo warehouse: real FOCUS sample + a generated GPU fleet and storage estate, with
two weeks of analysis history.

Everything goes through the code paths real data takes: billing files through the FOCUS reader
and loader (``spendwatch ingest focus``), inventory through the inventory loader, each host's
``nvidia-smi`` log through ``spendwatch ingest nvidia-smi``'s function, the storage estate
through ``load_storage`` (as the S3 collector writes it), then ``spendwatch analyze``'s
``analyze_now`` once a day for 14 days and once at ``as_of`` (findings and queued Slack
notifications as in production), then a snooze and a dismissal through
``set_finding_status``. The demo only ever writes inside its data folder.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import time
from pathlib import Path

from rich.console import Console

from spendwatch import demo_billing, demo_fleet, demo_history, demo_nvidia_smi, demo_shapes
from spendwatch.commands.ingest import ingest_focus_files
from spendwatch.config import DatabaseSettings, Settings
from spendwatch.progress import Steps, counted, step_list
from warehouse.db import make_engine, upgrade
from warehouse.errors import InputError
from warehouse.load_inventory import load_inventory

# The FOCUS sample bills September 2024; the fleet's 30 days end where that month ends, so the
# sample and the fleet share one month on every page.
DEMO_AS_OF = dt.datetime(2024, 10, 1, tzinfo=dt.UTC)
DEMO_DB = "spendwatch-demo.db"
FLEET_CSV = "gpu-fleet-focus.csv"
NVIDIA_SMI_DIR = "nvidia-smi"
FOCUS_SAMPLE = Path("focus") / "sample-data" / "focus_sample.csv"
REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True, slots=True)
class DemoSummary:
    database_url: str
    data_dir: Path
    as_of: dt.datetime
    sample_rows: int
    fleet_billing_rows: int
    gpu_hourly_rows: int
    hosts: int
    findings: int  # found by the last analysis (open, snoozed or dismissed)
    seconds: float
    storage_rows: int = 0  # storage_inventory rows: one snapshot a day x prefixes x classes
    telemetry_files: int = 0
    telemetry_samples: int = 0
    analyses: int = 0  # the daily history plus the run at as_of
    statuses: dict[str, int] = dataclasses.field(default_factory=dict)  # findings per status
    pending_alerts: int = 0
    snoozed_id: int | None = None
    dismissed_id: int | None = None


def shared_data_dir() -> Path:
    """``$SPENDWATCH_SHARED_DATA``, else ``<repo>/../shared/data``."""
    explicit = os.environ.get("SPENDWATCH_SHARED_DATA")
    path = Path(explicit) if explicit else REPO.parent / "shared" / "data"
    if not (path / FOCUS_SAMPLE).is_file():
        raise InputError(
            f"the demo needs the public samples, but {path / FOCUS_SAMPLE} does not exist; "
            "set SPENDWATCH_SHARED_DATA to the shared/data folder"
        )
    return path


def demo_settings(data_dir: Path) -> Settings:
    """Settings for the demo: the usual ones, with the warehouse inside ``data_dir``."""
    url = f"sqlite:///{(data_dir / DEMO_DB).resolve()}"
    return Settings(database=DatabaseSettings(url=url))


def build_demo(
    data_dir: Path,
    *,
    shared_data: Path,
    as_of: dt.datetime = DEMO_AS_OF,
    seed: int = 7,
    host_count: int = 30,
    days: int = 30,
    workers: int | None = None,
    console: Console | None = None,
) -> DemoSummary:
    """Rebuild the demo warehouse from scratch in ``data_dir``.

    ``workers``: processes parsing the nvidia-smi logs (default: up to 2, by CPU count).
    A line per main step goes to ``console`` (stderr by default) when it is a terminal.
    """
    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):  # a fresh build each time, so re-runs are identical
        (data_dir / f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
    settings = demo_settings(data_dir)
    engine = make_engine(settings.database.url)
    progress = step_list(console)
    steps = Steps(progress)
    # The ingest bars draw on the same console, so rich nests them under these steps.
    ingest_console = progress.console
    try:
        with progress:
            upgrade(engine)
            with steps.step("FOCUS sample bill") as step:
                sample_rows = ingest_focus_file(
                    shared_data / FOCUS_SAMPLE, settings=settings, console=ingest_console
                )
                step.report(counted(sample_rows, "row"))
            with steps.step(f"GPU fleet bill ({host_count} hosts, {days} days)") as step:
                hosts = demo_fleet.generate_fleet(seed=seed, host_count=host_count)
                fleet_csv = write_fleet_billing(data_dir / FLEET_CSV, hosts, as_of=as_of, days=days)
                fleet_rows = ingest_focus_file(fleet_csv, settings=settings, console=ingest_console)
                step.report(counted(fleet_rows, "row"))
            with steps.step("instance types, prices and resources") as step:
                priced = as_of - dt.timedelta(days=days)
                resources = demo_fleet.resource_records(hosts, as_of=as_of, days=days)
                load_inventory(
                    engine,
                    shapes=demo_shapes.instance_type_records(demo_shapes.DEMO_SHAPES),
                    price_records=[
                        *demo_shapes.price_records(
                            effective_at=priced, shapes=demo_shapes.DEMO_SHAPES
                        ),
                        *demo_shapes.spot_price_records(effective_at=priced),
                    ],
                    resource_records=resources,
                    updated_at=as_of,
                )
                step.report(counted(len(resources), "resource"))
            with steps.step("nvidia-smi logs") as step:
                telemetry = demo_nvidia_smi.load_fleet_telemetry(
                    settings.database.url,
                    data_dir / NVIDIA_SMI_DIR,
                    hosts,
                    as_of=as_of,
                    days=days,
                    seed=seed,
                    workers=workers if workers is not None else min(2, os.cpu_count() or 1),
                )
                step.report(
                    f"{counted(telemetry.files, 'log')}, {counted(telemetry.rows, 'GPU-hour')}"
                )
            with steps.step("daily analyses") as step:
                times = demo_history.run_times(as_of=as_of, days=days)
                results, storage_rows = demo_history.replay(
                    engine,
                    settings=settings,
                    times=times,
                    on_run=lambda done: step.report(f"{done} of {len(times)}"),
                )
                step.report(f"{len(results)} of {len(times)}")
            with steps.step("snooze and dismiss") as step:
                acted = demo_history.triage(engine, at=as_of)
                step.report(
                    ", ".join(f"finding {number} {action}" for action, number in acted.items())
                    or "nothing to act on"
                )
            state = demo_history.statuses(engine)
    finally:
        engine.dispose()
    return DemoSummary(
        database_url=settings.database.url,
        data_dir=data_dir,
        as_of=as_of,
        sample_rows=sample_rows,
        fleet_billing_rows=fleet_rows,
        gpu_hourly_rows=telemetry.rows,
        hosts=len(hosts),
        findings=len(results[-1].findings),
        seconds=time.perf_counter() - started,
        storage_rows=storage_rows,
        telemetry_files=telemetry.files,
        telemetry_samples=telemetry.samples,
        analyses=len(results),
        statuses=state["findings"],
        pending_alerts=state["pending_alerts"],
        snoozed_id=acted.get("snoozed"),
        dismissed_id=acted.get("dismissed"),
    )


def write_fleet_billing(
    path: Path, hosts: list[demo_fleet.Host], *, as_of: dt.datetime, days: int
) -> Path:
    """The fleet's hourly bill as a FOCUS CSV, the way a provider export delivers it."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(demo_billing.FOCUS_HEADER)
        writer.writerows(demo_billing.focus_billing_rows(hosts, as_of=as_of, days=days))
    return path


def ingest_focus_file(path: Path, *, settings: Settings, console: Console | None = None) -> int:
    """One FOCUS file through exactly what `spendwatch ingest focus PATH` runs."""
    return ingest_focus_files(settings, [str(path)], console=console).rows
