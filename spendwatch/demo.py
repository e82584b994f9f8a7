"""Build the demo warehouse: real FOCUS sample + a generated GPU fleet and storage estate, analyzed.

Everything goes through the code paths real data takes: billing files through the FOCUS reader
and loader (``spendwatch ingest focus``), inventory through the inventory loader, telemetry
through ``load_gpu_hourly``, the storage estate through ``load_storage`` (as the S3 collector
writes it), then the analysis ``spendwatch analyze`` runs. The demo only ever
writes inside its data folder.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import time
from pathlib import Path

from spendwatch import demo_fleet, demo_storage
from spendwatch.commands.analyze import idle_gpu_policy, run_analysis
from spendwatch.commands.ingest import ingest_focus_files
from spendwatch.config import DatabaseSettings, Settings
from warehouse.db import make_engine, upgrade
from warehouse.errors import InputError
from warehouse.load_gpu import load_gpu_hourly
from warehouse.load_inventory import load_inventory
from warehouse.load_storage import load_storage

# The FOCUS sample bills September 2024; the fleet's 30 days end where that month ends, so the
# sample and the fleet share one month on every page.
DEMO_AS_OF = dt.datetime(2024, 10, 1, tzinfo=dt.UTC)
DEMO_DB = "spendwatch-demo.db"
FLEET_CSV = "gpu-fleet-focus.csv"
FOCUS_SAMPLE = Path("focus") / "sample-data" / "focus_sample.csv"
REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True, slots=True)
class DemoSummary:
    database_url: str
    data_dir: Path
    sample_rows: int
    fleet_billing_rows: int
    gpu_hourly_rows: int
    hosts: int
    findings: int
    seconds: float
    storage_rows: int = 0  # storage_inventory rows: prefixes x storage classes


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
) -> DemoSummary:
    """Rebuild the demo warehouse from scratch in ``data_dir``."""
    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):  # a fresh build each time, so re-runs are identical
        (data_dir / f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
    settings = demo_settings(data_dir)
    engine = make_engine(settings.database.url)
    try:
        upgrade(engine)
        sample_rows = ingest_focus_file(shared_data / FOCUS_SAMPLE, settings=settings)

        hosts = demo_fleet.generate_fleet(seed=seed, host_count=host_count)
        fleet_csv = write_fleet_billing(data_dir / FLEET_CSV, hosts, as_of=as_of, days=days)
        fleet_rows = ingest_focus_file(fleet_csv, settings=settings)
        load_inventory(
            engine,
            shapes=demo_fleet.instance_type_records(),
            price_records=demo_fleet.price_records(effective_at=as_of - dt.timedelta(days=days)),
            resource_records=demo_fleet.resource_records(hosts, as_of=as_of, days=days),
            updated_at=as_of,
        )
        with engine.begin() as connection:
            gpu_rows = load_gpu_hourly(
                connection,
                list(demo_fleet.gpu_hourly_rows(hosts, as_of=as_of, days=days, seed=seed)),
            )
        storage_rows = load_storage(engine, demo_storage.storage_estate(as_of=as_of))
        result = run_analysis(engine, as_of=as_of, policy=idle_gpu_policy(settings))
    finally:
        engine.dispose()
    return DemoSummary(
        database_url=settings.database.url,
        data_dir=data_dir,
        sample_rows=sample_rows,
        fleet_billing_rows=fleet_rows,
        gpu_hourly_rows=gpu_rows,
        hosts=len(hosts),
        findings=len(result.findings),
        seconds=time.perf_counter() - started,
        storage_rows=storage_rows,
    )


def write_fleet_billing(
    path: Path, hosts: list[demo_fleet.Host], *, as_of: dt.datetime, days: int
) -> Path:
    """The fleet's hourly bill as a FOCUS CSV, the way a provider export delivers it."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(demo_fleet.FOCUS_HEADER)
        writer.writerows(demo_fleet.focus_billing_rows(hosts, as_of=as_of, days=days))
    return path


def ingest_focus_file(path: Path, *, settings: Settings) -> int:
    """One FOCUS file through exactly what `spendwatch ingest focus PATH` runs."""
    return ingest_focus_files(settings, [str(path)]).rows
