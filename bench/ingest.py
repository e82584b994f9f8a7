"""FOCUS ingest benchmark: spendwatch into SQLite and PostgreSQL against same-run baselines.

Each measurement runs in its own subprocess (``python -m bench.ingest --worker KIND ...``) so
the peak RSS it reports (``ru_maxrss`` of that process) belongs to that work alone. Baselines:
``pandas.read_csv(...).to_sql(...)`` into SQLite (what a user would otherwise write) and DuckDB's
own ``read_csv`` into a DuckDB table (the limit for reading this CSV on this machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.generate import generate_focus_csv

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SCRATCH_DB = "spendwatch_bench"


def run(*, quick: bool) -> list[dict[str, Any]]:
    rows = 100_000 if quick else 1_000_000
    csv_path = DATA_DIR / f"focus_{rows}.csv"
    if not csv_path.exists():
        print(f"generating {rows:,} FOCUS rows into {csv_path} ...", flush=True)
        generate_focus_csv(csv_path, rows=rows)
    pg_url = _scratch_pg_url()
    measured = {
        "ingest_focus_sqlite": _worker("spendwatch_sqlite", csv_path),
        "ingest_focus_postgres": _worker("spendwatch_postgres", csv_path, pg_url),
        "pandas_to_sql_sqlite": _worker("pandas_sqlite", csv_path),
        "duckdb_read_csv": _worker("duckdb", csv_path),
    }
    pairs = [
        ("ingest_focus_sqlite", "pandas_to_sql_sqlite"),
        ("ingest_focus_postgres", "pandas_to_sql_sqlite"),
        ("ingest_focus_sqlite", "duckdb_read_csv"),
        ("pandas_to_sql_sqlite", None),
        ("duckdb_read_csv", None),
    ]
    records = []
    for name, baseline in pairs:
        result = measured[name]
        value = result["rows"] / result["seconds"]
        record: dict[str, Any] = {
            "name": name if baseline != "duckdb_read_csv" else f"{name}_vs_limit",
            "value": round(value),
            "unit": "rows/s",
            "baseline": baseline,
            "baseline_value": None,
            "ratio": None,
            "rows": result["rows"],
            "peak_rss_mb": result["peak_rss_mb"],
            "seconds": round(result["seconds"], 2),
        }
        if baseline:
            base = measured[baseline]
            base_value = base["rows"] / base["seconds"]
            record["baseline_value"] = round(base_value)
            record["ratio"] = round(value / base_value, 2)
        records.append(record)
    return records


def _scratch_pg_url() -> str:
    admin = os.environ.get("SPENDWATCH_BENCH_PG_URL", DEFAULT_PG_URL)
    return make_url(admin).set(database=SCRATCH_DB).render_as_string(hide_password=False)


def _worker(kind: str, csv_path: Path, url: str = "") -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.ingest", "--worker", kind, str(csv_path), url]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=BENCH_DIR.parent
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark worker {kind} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {kind}: {result['rows']:,} rows in {result['seconds']:.2f} s", flush=True)
    return result


# --- workers: each runs in its own process -------------------------------------------------
def _fresh_sqlite(name: str) -> Path:
    path = DATA_DIR / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def _spendwatch(url: str, csv_path: str) -> int:
    from spendwatch.commands.ingest import ingest_focus_files
    from spendwatch.config import Settings
    from warehouse.db import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)  # schema creation is not part of the measurement
    engine.dispose()
    settings = Settings(database={"url": url})  # type: ignore[arg-type]
    started = time.perf_counter()
    summary = ingest_focus_files(settings, [csv_path])
    _report(summary.rows, started)
    return 0


def _recreate_pg(url: str) -> None:
    parsed = make_url(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _pandas_sqlite(csv_path: str) -> int:
    import sqlite3

    import pandas as pd

    path = _fresh_sqlite("pandas.db")
    started = time.perf_counter()
    # What a careful user writes: account ids as text, or pandas drops their leading zeros.
    ids = {"BillingAccountId": str, "SubAccountId": str}
    frame = pd.read_csv(csv_path, dtype=ids)
    with sqlite3.connect(path) as connection:
        frame.to_sql("focus", connection, index=False)
    _report(len(frame), started)
    return 0


def _duckdb(csv_path: str) -> int:
    import duckdb

    path = _fresh_sqlite("duckdb.db")
    started = time.perf_counter()
    connection = duckdb.connect(str(path))
    connection.execute("CREATE TABLE focus AS SELECT * FROM read_csv(?)", [csv_path])
    (count,) = connection.execute("SELECT count(*) FROM focus").fetchone() or (0,)
    connection.close()
    _report(int(count), started)
    return 0


def _report(rows: int, started: float) -> None:
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": round(peak_mb)}))


def _main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True)
    parser.add_argument("csv")
    parser.add_argument("url", nargs="?", default="")
    args = parser.parse_args()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if args.worker == "spendwatch_sqlite":
        return _spendwatch(f"sqlite:///{_fresh_sqlite('spendwatch.db')}", args.csv)
    if args.worker == "spendwatch_postgres":
        _recreate_pg(args.url)
        return _spendwatch(args.url, args.csv)
    if args.worker == "pandas_sqlite":
        return _pandas_sqlite(args.csv)
    if args.worker == "duckdb":
        return _duckdb(args.csv)
    raise SystemExit(f"unknown worker {args.worker!r}")


if __name__ == "__main__":
    raise SystemExit(_main())
