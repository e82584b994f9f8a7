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

from spendwatch import demo_fleet
from warehouse.load_gpu import load_gpu_hourly
from warehouse.load_inventory import load_inventory
from warehouse.runs import fail_run, finish_run, start_run
from warehouse.schema import FOCUS_MONEY_COLUMNS, FOCUS_QUANTITY_COLUMNS, cost_line_items, findings

AS_OF = dt.datetime(2024, 10, 1, tzinfo=dt.UTC)
DAYS = 2
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def _shape(instance_type: str) -> demo_fleet.Shape:
    return next(shape for shape in demo_fleet.SHAPES if shape.instance_type == instance_type)


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
    columns = [_snake(name) for name in demo_fleet.FOCUS_HEADER]
    items = []
    for values in demo_fleet.focus_billing_rows(HOSTS, as_of=AS_OF, days=DAYS):
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
            "evidence": {"util_max": 0.0, "hours": 24, "hourly_price": "21.957642"},
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
    ]


def fill_demo_like(engine: Engine) -> None:
    load_inventory(
        engine,
        shapes=demo_fleet.instance_type_records(),
        resource_records=demo_fleet.resource_records(HOSTS, as_of=AS_OF, days=DAYS),
        updated_at=AS_OF,
    )
    with engine.begin() as connection:
        load_gpu_hourly(
            connection, list(demo_fleet.gpu_hourly_rows(HOSTS, as_of=AS_OF, days=DAYS, seed=1))
        )
        connection.execute(sa.insert(cost_line_items), _line_items())
        connection.execute(sa.insert(findings), _findings())
    ok = start_run(engine, "focus_files", window_start=None, window_end=None, now=AS_OF)
    finish_run(engine, ok, rows=192, watermark=AS_OF, now=AS_OF)
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
