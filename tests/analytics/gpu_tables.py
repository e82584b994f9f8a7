"""Hand-made warehouse rows for the GPU rule tests: small, explicit, one helper per table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from analytics.findings import Finding
from analytics.policies import IdleGpuPolicy
from spendwatch.commands.analyze import gpu_findings
from warehouse.gpu_rollup_daily import rebuild_gpu_daily
from warehouse.rollups import DEFAULT_TEAM_TAG, EVERYTHING, refresh_rollups
from warehouse.schema import cost_line_items, gpu_hourly, instance_types, prices, resources

AS_OF = dt.datetime(2024, 9, 30, 12, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
GIB = 1 << 30


def hours_before(as_of: dt.datetime, count: int) -> list[dt.datetime]:
    """The ``count`` whole hours ending at ``as_of`` (oldest first)."""
    return [as_of - HOUR * n for n in range(count, 0, -1)]


def gpu_rows(
    resource_id: str,
    hours: Iterable[dt.datetime],
    *,
    gpus: int = 1,
    util: Callable[[int, dt.datetime], float | None] = lambda gpu, hour: 0.0,
    mem_used: int | None = 300 << 20,
    engine_active: Callable[[int, dt.datetime], float | None] = lambda gpu, hour: None,
    source: str = "dcgm",
    model: str = "NVIDIA A100-SXM4-80GB",
) -> list[dict[str, Any]]:
    rows = []
    for hour in hours:
        for gpu in range(gpus):
            u, e = util(gpu, hour), engine_active(gpu, hour)
            rows.append(
                {
                    "source": source,
                    "provider": "aws",
                    "resource_id": resource_id,
                    "gpu_id": f"GPU-{resource_id}-{gpu}",
                    "hour": hour,
                    "gpu_model": model,
                    "util_avg": u,
                    "util_max": u,
                    "engine_active_avg": e,
                    "engine_active_max": e,
                    "mem_used_avg_bytes": mem_used,
                    "mem_used_max_bytes": mem_used,
                    "mem_total_bytes": 80 * GIB,
                    "power_avg_watts": 70.0,
                    "sample_count": 60,
                }
            )
    return rows


def usage_line(
    resource_id: str,
    start: dt.datetime,
    *,
    cost: str,
    hours: int = 24,
    category: str = "Usage",
    charge_class: str | None = None,
) -> dict[str, Any]:
    return {
        "resource_id": resource_id,
        "charge_period_start": start,
        "charge_period_end": start + HOUR * hours,
        "effective_cost": Decimal(cost),
        "billed_cost": Decimal(cost),
        "billing_currency": "USD",
        "charge_category": category,
        "charge_class": charge_class,
        "provider_name": "AWS",
        "sub_account_id": "111122223333",
        "region_id": "us-east-1",
        "x_source": "test",
        "x_load_id": "load-1",
    }


def resource(resource_id: str, **values: Any) -> dict[str, Any]:
    row = {
        "provider": "aws",
        "resource_id": resource_id,
        "account_id": "111122223333",
        "region": "us-east-1",
        "instance_type": None,
        "gpu_count": None,
        "gpu_model": None,
        "owner": None,
        "team": None,
        "state": "running",
        "updated_at": AS_OF,
    }
    return row | values


def price(sku: str, value: str, *, at: dt.datetime, model: str = "on_demand") -> dict[str, Any]:
    return {
        "provider": "aws",
        "region": "us-east-1",
        "sku": sku,
        "pricing_model": model,
        "unit": "hour",
        "price": Decimal(value),
        "currency": "USD",
        "effective_at": at,
        "source": "snapshot-2024-07-20",
    }


def load(
    engine: Engine,
    *,
    gpu: Iterable[dict[str, Any]] = (),
    billing: Iterable[dict[str, Any]] = (),
    inventory: Iterable[dict[str, Any]] = (),
    types: Iterable[dict[str, Any]] = (),
    catalog: Iterable[dict[str, Any]] = (),
) -> None:
    with engine.begin() as connection:
        for table, rows in (
            (gpu_hourly, list(gpu)),
            (cost_line_items, list(billing)),
            (resources, list(inventory)),
            (instance_types, list(types)),
            (prices, list(catalog)),
        ):
            if rows:
                connection.execute(table.insert(), rows)
        # These line items bypass the loader, so rebuild the daily rollup the cost reads use.
        refresh_rollups(connection, EVERYTHING, team_tag=DEFAULT_TEAM_TAG)
        # The GPU rows bypass load_gpu_hourly too: rebuild the day rollup the dashboard reads.
        rebuild_gpu_daily(connection)


def run_rules(
    engine: Engine, *, as_of: dt.datetime = AS_OF, policy: IdleGpuPolicy | None = None
) -> dict[tuple[str, str], Finding]:
    """The GPU findings by (kind, resource_id), through the same queries `analyze` runs."""
    with engine.connect() as connection:
        found = gpu_findings(connection, as_of=as_of, policy=policy or IdleGpuPolicy())
    return {(f.kind, f.resource_id): f for f in found}


def load_training_host(engine: Engine, *, as_of: dt.datetime) -> None:
    """One host that three rules find: a g5.48xlarge (8x A10G) tagged workload=training, on
    demand, owner carol. In the week ending at ``as_of`` GPU 0 worked at 60% for the first six
    days (144 of 168 h) and nothing worked in the last 24 h; a g5.48xlarge spot price of
    4.8864/h from 3 days before ``as_of``. The on-demand prices come from the price snapshot,
    which the caller loads."""
    week = hours_before(as_of, 168)
    first_six_days = set(week[:144])
    load(
        engine,
        gpu=gpu_rows(
            "i-all3",
            week,
            gpus=8,
            util=lambda g, h: 60.0 if g == 0 and h in first_six_days else 0.0,
            mem_used=20 * GIB,
            model="A10G",
        ),
        inventory=[
            resource(
                "i-all3",
                instance_type="g5.48xlarge",
                gpu_count=8,
                gpu_model="A10G",
                lifecycle="on_demand",
                tags={"workload": "training"},
                owner="carol",
            )
        ],
        catalog=[
            price("g5.48xlarge", "4.8864", at=as_of - dt.timedelta(days=3), model="spot")
            | {"source": "aws-spot-price-history"}
        ],
    )
