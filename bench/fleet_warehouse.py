"""The fleet-scale SQLite warehouse the analyze and dashboard benchmarks run on.

Size 1× is 10,000 GPUs × 30 days of hourly rollups (7.2 M ``gpu_hourly`` rows; a few hosts
are added to make up for the nightly-batch hosts, which only send telemetry while they run)
plus 5 M billing rows, storage inventory and the price snapshot.

The warehouse is written with raw ``sqlite3.executemany`` in exactly the storage format
SQLAlchemy uses (``SQLITE_DATETIME_FORMAT`` text, Money as decimal text) and cached under
``bench/data/analyze_<gpus>g_<rows>r_v<N>_s<schema>.db`` (``<schema>`` is a hash of the
schema's DDL, so a schema change regenerates it), so reruns only time what they measure. The
rollups are then built with the functions every load uses.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from warehouse.types import SQLITE_DATETIME_FORMAT

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
GENERATOR_VERSION = 3  # bump when the generated data changes, so caches are rebuilt
AS_OF = dt.datetime(2026, 8, 10, 12, tzinfo=dt.UTC)  # after both price snapshots
HOURS = 30 * 24
GPUS_1X = 10_000
BILLING_ROWS_1X = 5_000_000
GIB = 1 << 30

# Host patterns, in a cycle of 20 hosts: (pattern, instance type, hourly price, lifecycle, tag).
Pattern = tuple[str, str, str, str, str | None]
PATTERNS: list[Pattern] = (
    list[Pattern]([("idle", "p4d.24xlarge", "21.957642", "on_demand", None)]) * 2
    + [("two_of_eight", "g5.48xlarge", "16.288000", "on_demand", None)] * 4
    + [("light", "g6e.48xlarge", "30.131180", "reserved", None)] * 2
    + [("nightly", "p4d.24xlarge", "21.957642", "on_demand", None)]
    + [("training", "p4d.24xlarge", "21.957642", "on_demand", "training")] * 2
    + [("busy", "p5.48xlarge", "55.040000", "reserved", "inference")] * 9
)
MODELS = {
    "p4d.24xlarge": "A100",
    "g5.48xlarge": "A10G",
    "g6e.48xlarge": "L40S",
    "p5.48xlarge": "H100",
}
SERVICES = [
    ("Amazon Simple Storage Service", "Storage"),
    ("Amazon Elastic Block Store", "Storage"),
    ("Amazon Elastic Compute Cloud", "Compute"),
    ("AWS Lambda", "Compute"),
    ("Amazon CloudWatch", "Management and Governance"),
]
ACCOUNTS = ["111111111111", "222222222222", "333333333333"]


def ensure_warehouse(scale: float) -> Path:
    gpus, billing_rows = round(GPUS_1X * scale), round(BILLING_ROWS_1X * scale)
    name = f"analyze_{gpus}g_{billing_rows}r_v{GENERATOR_VERSION}_s{schema_version()}.db"
    path = DATA_DIR / name
    if not path.exists():
        print(f"generating the {scale:g}x warehouse into {path} ...", flush=True)
        started = time.perf_counter()
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        generate_warehouse(partial, gpus=gpus, billing_rows=billing_rows)
        partial.rename(path)
        print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def schema_version() -> str:
    """A short hash of the warehouse DDL: cached warehouses follow schema.py changes."""
    import hashlib

    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from warehouse.schema import metadata

    dialect = sqlite.dialect()
    statements = [str(CreateTable(t).compile(dialect=dialect)) for t in metadata.sorted_tables]
    statements += sorted(
        str(CreateIndex(i).compile(dialect=dialect))
        for t in metadata.sorted_tables
        for i in t.indexes
    )
    return hashlib.sha256("\n".join(statements).encode()).hexdigest()[:8]


# --- generation -----------------------------------------------------------------------------
def generate_warehouse(path: Path, *, gpus: int, billing_rows: int) -> None:
    from collectors.price_snapshot import load_snapshot
    from warehouse.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    load_snapshot(engine)  # the real catalog: instance types and prices
    engine.dispose()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=OFF")
    connection.execute("PRAGMA synchronous=OFF")
    hosts = _hosts(gpus)
    hours = [AS_OF - dt.timedelta(hours=n) for n in range(HOURS, 0, -1)]
    text_hours = [h.replace(tzinfo=None).strftime(SQLITE_DATETIME_FORMAT) for h in hours]
    rng = np.random.default_rng(7)
    with connection:
        # Hand-made AWS spot history (no public GPU spot sample exists): one price a day.
        connection.executemany(
            "INSERT INTO prices (provider, region, sku, pricing_model, unit, price, currency, "
            "effective_at, source) VALUES ('aws', 'us-east-1', 'p4d.24xlarge', 'spot', 'hour', "
            "?, 'USD', ?, 'bench-handmade')",
            [(f"{8.5 + 0.05 * (d % 7):.6f}", text_hours[d * 24]) for d in range(HOURS // 24)],
        )
        _insert_resources(connection, hosts)
        gpu_billing = _insert_gpu_hourly(connection, hosts, hours, text_hours, rng)
        _insert_billing(connection, hosts, gpu_billing, text_hours, billing_rows, rng)
        _insert_storage(connection, max(gpus // 2, 100), rng)
    connection.close()
    # The rows above bypass the loaders: build the rollups with the functions every load uses.
    from warehouse.gpu_rollup_daily import rebuild_gpu_daily
    from warehouse.rollups import DEFAULT_TEAM_TAG, EVERYTHING, refresh_rollups

    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as rollup:
        refresh_rollups(rollup, EVERYTHING, team_tag=DEFAULT_TEAM_TAG)
        rebuild_gpu_daily(rollup)
        _record_billing_run(rollup)
        rollup.exec_driver_sql("ANALYZE")
    engine.dispose()


def _record_billing_run(connection: Any) -> None:
    """The collector run ``warehouse.load`` records for a delivery, so the dashboard's
    billing_loads replays it as it would on a loaded warehouse instead of scanning."""
    import sqlalchemy as sa

    from warehouse.schema import collector_runs, cost_line_items

    c = cost_line_items.c
    keys = (c.provider_name, c.billing_account_id, c.billing_period_start, c.billing_period_end)
    query = sa.select(
        *keys,
        sa.func.count().label("rows"),
        sa.func.min(c.charge_period_start).label("first_charge"),
        sa.func.max(c.charge_period_start).label("last_charge"),
    ).group_by(*keys)

    def iso(value: Any) -> Any:  # warehouse.load's fixed-width UTC text
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00") if value is not None else None

    groups = [
        {
            "provider_name": row.provider_name,
            "billing_account_id": row.billing_account_id,
            "billing_period_start": iso(row.billing_period_start),
            "billing_period_end": iso(row.billing_period_end),
            "rows": row.rows,
            "first_charge": iso(row.first_charge),
            "last_charge": iso(row.last_charge),
        }
        for row in connection.execute(query)
    ]
    connection.execute(
        collector_runs.insert().values(
            source="bench",
            status="succeeded",
            started_at=AS_OF,
            finished_at=AS_OF,
            rows=sum(g["rows"] for g in groups),
            details={"load_id": "bench-load", "billing_groups": groups},
        )
    )


def _hosts(gpus: int) -> list[tuple[str, tuple[str, str, str, str, str | None]]]:
    """Enough 8-GPU hosts for ``gpus`` GPUs' worth of hourly rows (nightly hosts run 3 h/day)."""
    target, rows = gpus * HOURS, 0
    hosts: list[tuple[str, tuple[str, str, str, str, str | None]]] = []
    while rows < target:
        pattern = PATTERNS[len(hosts) % len(PATTERNS)]
        hosts.append((f"i-{len(hosts):06d}", pattern))
        rows += 8 * (HOURS // 8 if pattern[0] == "nightly" else HOURS)
    return hosts


def _insert_resources(connection: sqlite3.Connection, hosts: list[Any]) -> None:
    updated = AS_OF.replace(tzinfo=None).strftime(SQLITE_DATETIME_FORMAT)
    connection.executemany(
        "INSERT INTO resources (provider, resource_id, account_id, region, instance_type, "
        "gpu_count, gpu_model, lifecycle, tags, owner, team, state, updated_at) "
        "VALUES ('aws', ?, ?, 'us-east-1', ?, 8, ?, ?, ?, ?, ?, 'running', ?)",
        [
            (
                rid,
                ACCOUNTS[n % 3],
                kind,
                MODELS[kind],
                lifecycle,
                json.dumps({"workload": tag} if tag else {}),
                f"owner{n % 40}",
                f"team{n % 8}",
                updated,
            )
            for n, (rid, (_, kind, _, lifecycle, tag)) in enumerate(hosts)
        ],
    )


def _insert_gpu_hourly(
    connection: sqlite3.Connection,
    hosts: list[Any],
    hours: list[dt.datetime],
    text_hours: list[str],
    rng: np.random.Generator,
) -> dict[str, list[int]]:
    """GPU rows per host; returns the hour indexes each host ran (what billing charges)."""
    ran: dict[str, list[int]] = {}
    sql = (
        "INSERT INTO gpu_hourly (source, provider, resource_id, gpu_id, hour, gpu_model, "
        "util_avg, util_max, mem_used_avg_bytes, mem_used_max_bytes, mem_total_bytes, "
        "power_avg_watts, sample_count) VALUES ('dcgm', 'aws', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 60)"
    )
    hour_of_day = np.array([h.hour for h in hours])
    for rid, (pattern, kind, _, _, _) in hosts:
        util = _utilization(pattern, hour_of_day, rng)  # shape (hours, 8)
        index = np.flatnonzero(hour_of_day < 3) if pattern == "nightly" else np.arange(HOURS)
        ran[rid] = index.tolist()
        memory = (util > 0) * (14 * GIB) + 300 * (1 << 20)
        rows: list[tuple[Any, ...]] = []
        for gpu in range(8):
            u = util[index, gpu].round(1)
            m = memory[index, gpu]
            rows += zip(
                [rid] * len(index),
                [f"GPU-{rid}-{gpu}"] * len(index),
                [text_hours[i] for i in index],
                [MODELS[kind]] * len(index),
                u.tolist(),
                np.minimum(u + 5, 100).tolist(),
                m.tolist(),
                m.tolist(),
                [80 * GIB] * len(index),
                (70 + u * 3).tolist(),
                strict=True,
            )
        connection.executemany(sql, rows)
    return ran


def _utilization(pattern: str, hour_of_day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.uniform(-5, 5, size=(len(hour_of_day), 8))
    util = np.zeros((len(hour_of_day), 8))
    if pattern == "idle":
        util[:-48, :] = 70 + noise[:-48, :]  # busy until two days ago
    elif pattern == "two_of_eight":
        util[:, :2] = 65 + noise[:, :2]
    elif pattern == "light":
        util[:] = 18 + noise
    else:  # nightly, training, busy
        util[:] = 80 + noise
    return np.clip(util, 0, 100)


def _insert_billing(
    connection: sqlite3.Connection,
    hosts: list[Any],
    ran: dict[str, list[int]],
    text_hours: list[str],
    billing_rows: int,
    rng: np.random.Generator,
) -> None:
    sql = (
        "INSERT INTO cost_line_items (provider_name, billing_account_id, sub_account_id, "
        "service_name, service_category, resource_id, region_id, billing_currency, "
        "charge_category, charge_class, charge_period_start, charge_period_end, "
        "billed_cost, effective_cost, x_source, x_load_id) "
        "VALUES ('AWS', '999999999999', ?, ?, ?, ?, 'us-east-1', 'USD', ?, NULL, ?, ?, ?, ?, "
        "'bench', 'bench-load')"
    )
    ends = [*text_hours[1:], AS_OF.replace(tzinfo=None).strftime(SQLITE_DATETIME_FORMAT)]
    written = 0
    for n, (rid, (_, _, price, _, _)) in enumerate(hosts):
        rows = [
            (
                ACCOUNTS[n % 3],
                "Amazon Elastic Compute Cloud",
                "Compute",
                rid,
                "Usage",
                text_hours[i],
                ends[i],
                price,
                price,
            )
            for i in ran[rid]
        ]
        connection.executemany(sql, rows)
        written += len(rows)
    # The rest: other resources billed every hour, a few credits, one spike yesterday.
    others = max((billing_rows - written) // HOURS, 1)
    spike_day = (AS_OF - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    for n in range(others):
        service, category = SERVICES[n % len(SERVICES)]
        costs = rng.gamma(2.0, 0.05 + (n % 7) * 0.02, size=HOURS)
        if n == 3:
            costs = costs + np.array([40.0 if h.startswith(spike_day) else 0.0 for h in text_hours])
        text = np.char.mod("%.6f", costs).tolist()
        rid = f"r-{n:07d}"
        account = ACCOUNTS[n % 3]
        rows = [
            (account, service, category, rid, "Usage", text_hours[i], ends[i], text[i], text[i])
            for i in range(HOURS)
        ]
        if n % 500 == 0:  # a credit now and then: never spend
            rows.append(
                (account, service, category, rid, "Credit", text_hours[0], ends[0], "-25", "-25")
            )
        connection.executemany(sql, rows)


def _insert_storage(
    connection: sqlite3.Connection, prefixes: int, rng: np.random.Generator
) -> None:
    snapshot = (AS_OF - dt.timedelta(hours=6)).replace(tzinfo=None)
    idle_days = rng.integers(0, 400, size=prefixes)
    sizes = rng.integers(1, 5000, size=prefixes) * GIB
    rows = []
    for n in range(prefixes):
        read = snapshot - dt.timedelta(days=int(idle_days[n]))
        rows.append(
            (
                f"bucket-{n % 50}",
                f"data/part-{n:06d}/",
                int(sizes[n]),
                int(sizes[n] // (8 << 20)) + 1,
                int(n % 3) * 100,
                read.strftime(SQLITE_DATETIME_FORMAT),
                read.strftime(SQLITE_DATETIME_FORMAT) if n % 2 else None,
                int(n % 10 == 0),
                snapshot.strftime(SQLITE_DATETIME_FORMAT),
            )
        )
    connection.executemany(
        "INSERT INTO storage_inventory (provider, account_id, region, bucket, prefix, "
        "storage_class, bytes, objects, small_objects, last_modified, last_accessed, "
        "lifecycle_managed, snapshot_at) "
        "VALUES ('aws', '111111111111', 'us-east-1', ?, ?, 'STANDARD', ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
