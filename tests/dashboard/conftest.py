"""A small demo-like warehouse for the dashboard tests, built with the demo fleet generator.

Four hosts with known prices over two days (2024-09-29 and 2024-09-30, UTC), so every figure
the tests check can be worked out by hand:

=========  =======================  ============  ====  ==================
pattern    type                     provider      GPUs  price / hour (USD)
=========  =======================  ============  ====  ==================
idle       p4d.24xlarge             AWS           8     21.957642
nightly    g2-standard-4            Google Cloud  1     0.706832255
underused  a3-highgpu-8g            Google Cloud  8     88.4899999025753
busy       Standard_NC4as_T4_v3     Microsoft     1     0.526
=========  =======================  ============  ====  ==================

Storage: one S3 bucket in us-east-1 (no prices table rows, so the cold_storage policy table
prices it): ``datasets/`` 100 GiB STANDARD (0.023/GB-month = 2.30) and ``archive/`` 1 TiB
GLACIER_IR under a lifecycle rule (0.004 × 1024 = 4.096); 6.40 USD a month in all.

Findings: an open idle GPU (16029.07), an open rightsizing (48448.27), a dismissed idle (100),
an open cold_storage on ``datasets/`` (1.05), an open spot_candidate on the idle host (9000,
less than its idle finding, so it counts 0), an open spend anomaly, and a resolved idle finding
with a realized saving of 250.00 in August 2024. One Slack message failed for good. Prices: the
demo fleet's 10 hourly GPU prices (aws 5, gcp 3, azure 2).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import Engine

from spendwatch import demo_billing, demo_fleet, demo_shapes, demo_telemetry
from warehouse.load_gpu import load_gpu_hourly
from warehouse.load_inventory import load_inventory
from warehouse.load_storage import PrefixUsage, StorageSnapshot, load_storage
from warehouse.rollups import DEFAULT_TEAM_TAG, EVERYTHING, refresh_rollups
from warehouse.runs import fail_run, finish_run, start_run
from warehouse.schema import (
    FOCUS_MONEY_COLUMNS,
    FOCUS_QUANTITY_COLUMNS,
    cost_line_items,
    findings,
    notification_outbox,
)

AS_OF = dt.datetime(2024, 10, 1, tzinfo=dt.UTC)
DAYS = 2
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def _shape(instance_type: str) -> demo_shapes.Shape:
    return next(shape for shape in demo_shapes.SHAPES if shape.instance_type == instance_type)


_GCE = "projects/acme-ml/zones/us-central1-a/instances/"
_VM = "/subscriptions/0/resourceGroups/ml/providers/Microsoft.Compute/virtualMachines/"
HOSTS = [
    demo_fleet.Host(
        _shape("p4d.24xlarge"), "i-0aaa", "nlp-p4d-00", "idle", "nlp", "alice@example.com", 72
    ),
    demo_fleet.Host(
        _shape("g2-standard-4"),
        f"{_GCE}vision-g2-01",
        "vision-g2-01",
        "nightly",
        "vision",
        "chen@example.com",
        0,
    ),
    demo_fleet.Host(
        _shape("a3-highgpu-8g"),
        f"{_GCE}research-a3-02",
        "research-a3-02",
        "underused",
        "research",
        "dana@example.com",
        0,
    ),
    demo_fleet.Host(
        _shape("Standard_NC4as_T4_v3"),
        f"{_VM}recsys-t4-03",
        "recsys-t4-03",
        "busy",
        "recsys",
        "farah@example.com",
        0,
    ),
]  # the idle host stopped 72 h before as_of: idle for the whole two days


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _line_items() -> list[dict[str, object]]:
    """The generator's FOCUS rows as warehouse rows (the ingest path is tested on its own)."""
    columns = [_snake(name) for name in demo_billing.FOCUS_HEADER]
    items = []
    for values in demo_billing.focus_billing_rows(HOSTS, as_of=AS_OF, days=DAYS):
        row: dict[str, object] = {}
        for column, value in zip(columns, values, strict=True):
            if column in FOCUS_MONEY_COLUMNS or column in FOCUS_QUANTITY_COLUMNS:
                row[column] = Decimal(value)
            elif column.endswith(("_start", "_end")):
                row[column] = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            elif column == "tags":
                row[column] = __import__("json").loads(value)
            else:
                row[column] = value or None
        row.update(x_source="test", x_load_id="test-load")
        items.append(row)
    return items


def _findings() -> list[dict[str, object]]:
    common = {
        "currency": "USD",
        "first_seen": AS_OF,
        "last_seen": AS_OF,
        "updated_at": AS_OF,
        "confidence": "high",
        "dismissed_reason": None,  # executemany takes its columns from the first row
    }
    return [
        {
            **common,
            "fingerprint": "f-idle",
            "kind": "idle_gpu",
            "resource_id": "i-0aaa",
            "provider": "aws",
            "owner": "alice@example.com",
            "team": "nlp",
            "status": "open",
            "monthly_savings": Decimal("16029.07"),
            "recommendation": "Stop nlp-p4d-00: its 8 GPUs did no work in the last 24 hours.",
            "evidence": {
                "window_start": "2024-09-30T00:00:00Z",
                "window_end": "2024-10-01T00:00:00Z",
                "idle_since": "2024-09-29T00:00:00Z",
                "hourly_cost": "21.957642",
                "cost_so_far": "1053.97",
            },
        },
        {
            **common,
            "fingerprint": "f-right",
            "kind": "gpu_rightsizing",
            "resource_id": HOSTS[2].resource_id,
            "provider": "gcp",
            "owner": "dana@example.com",
            "team": "research",
            "status": "open",
            "monthly_savings": Decimal("48448.27"),
            "recommendation": "6 of 8 H100s never work: move to a smaller shape.",
            "evidence": {"busy_gpus": 2, "gpus": 8},
        },
        {
            **common,
            "fingerprint": "f-dismissed",
            "kind": "idle_gpu",
            "resource_id": HOSTS[1].resource_id,
            "provider": "gcp",
            "owner": "chen@example.com",
            "team": "vision",
            "status": "dismissed",
            "dismissed_reason": "nightly batch",
            "monthly_savings": Decimal("100.00"),
            "recommendation": "Stop vision-g2-01.",
            "evidence": {},
        },
        {
            **common,
            "fingerprint": "f-cold",
            "kind": "cold_storage",
            "resource_id": "s3://acme-ml-data/datasets/",
            "provider": "aws",
            "owner": None,
            "team": None,
            "status": "open",
            "monthly_savings": Decimal("1.05"),
            "confidence": "medium",
            "recommendation": "Move s3://acme-ml-data/datasets/ to STANDARD_IA.",
            "evidence": {
                "movable_gb": 100.0,
                "idle_days": 45,
                "idle_basis": "modified",
                "storage_class": "STANDARD",
                "target_class": "STANDARD_IA",
            },
        },
        {
            **common,
            "fingerprint": "f-spot",
            "kind": "spot_candidate",
            "resource_id": "i-0aaa",
            "provider": "aws",
            "owner": "alice@example.com",
            "team": "nlp",
            "status": "open",
            "monthly_savings": Decimal("9000.00"),
            "recommendation": "Run nlp-p4d-00 on spot.",
            "evidence": {},
        },
        {
            **common,
            "fingerprint": "f-spike",
            "kind": "spend_anomaly",
            "resource_id": "AWS/123456789012/Amazon Elastic Compute Cloud",
            "provider": "AWS",
            "owner": None,
            "team": None,
            "status": "open",
            "monthly_savings": Decimal("0"),
            "recommendation": "EC2 cost 527.00 on 2024-09-30, 400.00 above its usual.",
            "evidence": {
                "day": "2024-09-30",
                "amount": "527.00",
                "baseline_median": "127.00",
                "robust_z": 8.5,
            },
        },
        {
            **common,
            "fingerprint": "f-resolved",
            "kind": "idle_gpu",
            "resource_id": "i-0old",
            "provider": "aws",
            "owner": "bob@example.com",
            "team": "nlp",
            "status": "resolved",
            "resolved_at": dt.datetime(2024, 8, 20, tzinfo=dt.UTC),
            "realized_monthly_savings": Decimal("250.00"),
            "monthly_savings": Decimal("300.00"),
            "recommendation": "Stop the old host.",
            "evidence": {},
        },
    ]


def _storage() -> list[StorageSnapshot]:
    at = AS_OF - dt.timedelta(hours=1)
    return [
        StorageSnapshot(
            provider="aws",
            bucket="acme-ml-data",
            snapshot_at=at,
            account_id="123456789012",
            region="us-east-1",
            prefixes=(
                PrefixUsage(
                    "datasets/",
                    "STANDARD",
                    100 << 30,
                    1000,
                    last_modified=AS_OF - dt.timedelta(days=45),
                ),
                PrefixUsage(
                    "archive/",
                    "GLACIER_IR",
                    1 << 40,
                    5000,
                    last_modified=AS_OF - dt.timedelta(days=400),
                    lifecycle_managed=True,
                ),
            ),
        )
    ]


def fill_demo_like(engine: Engine) -> None:
    load_inventory(
        engine,
        shapes=demo_shapes.instance_type_records(),
        price_records=demo_shapes.price_records(effective_at=AS_OF - dt.timedelta(days=30)),
        resource_records=demo_fleet.resource_records(HOSTS, as_of=AS_OF, days=DAYS),
        updated_at=AS_OF,
    )
    with engine.begin() as connection:
        load_gpu_hourly(
            connection, list(demo_telemetry.gpu_hourly_rows(HOSTS, as_of=AS_OF, days=DAYS, seed=1))
        )
        connection.execute(sa.insert(cost_line_items), _line_items())
        # These line items bypass the loader, so rebuild the daily rollup the spend pages read.
        refresh_rollups(connection, EVERYTHING, team_tag=DEFAULT_TEAM_TAG)
        rows = _findings()
        for row in rows:  # executemany takes its columns from the first row
            row.setdefault("resolved_at", None)
            row.setdefault("realized_monthly_savings", None)
        connection.execute(sa.insert(findings), rows)
        connection.execute(
            sa.insert(notification_outbox),
            {
                "dedupe_key": "f-idle:opened",
                "finding_id": 1,
                "event": "opened",
                "channel": "#nlp-costs",
                "payload": {},
                "status": "failed",
                "attempts": 1,
                "next_attempt_at": AS_OF,
                "last_error": "channel_not_found: #nlp-costs does not exist",
                "created_at": AS_OF,
            },
        )
    load_storage(engine, _storage())
    ok = start_run(engine, "focus_files", window_start=None, window_end=None, now=AS_OF)
    # The delivery finished on 2024-10-01: September (ends 2024-10-01 00:00) is not final yet.
    finish_run(engine, ok, rows=192, watermark=AS_OF, details={"load_id": "test-load"}, now=AS_OF)
    bad = start_run(engine, "prometheus", window_start=None, window_end=None, now=AS_OF)
    fail_run(engine, bad, error="prometheus at http://prom:9090: connection refused", now=AS_OF)


@pytest.fixture
def dashboard_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # PostgreSQL tests share one URL per session: never let a cached answer leak between tests.
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture
def demo_like_url(
    db_url: str, engine: Engine, dashboard_env: None, monkeypatch: pytest.MonkeyPatch
) -> str:
    fill_demo_like(engine)
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    return db_url


@pytest.fixture
def empty_url(db_url: str, dashboard_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    return db_url
