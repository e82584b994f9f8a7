"""gpu_rightsizing through the real queries and the real price snapshot, on SQLite and PostgreSQL.

The catalog is the shipped snapshot (AWS us-east-1 on-demand, 2026-07-20), so the expected
instance types and prices below are read off ``collectors/snapshots/*.csv`` by hand. The
analysis ends at AS_OF = 2026-08-10 12:00 UTC; the 7-day window holds 168 hours.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from analytics.findings import Finding
from analytics.policies import IdleGpuPolicy, RightsizingPolicy
from collectors.price_snapshot import load_snapshot
from spendwatch.commands.analyze import rightsizing_findings, run_analysis
from tests.analytics.gpu_tables import (
    GIB,
    gpu_rows,
    hours_before,
    load,
    load_training_host,
    resource,
)
from warehouse.findings_store import savings_totals

AS_OF = dt.datetime(2026, 8, 10, 12, tzinfo=dt.UTC)
WEEK = hours_before(AS_OF, 168)


def rightsize(engine: Engine) -> dict[str, Finding]:
    with engine.connect() as connection:
        found = rightsizing_findings(connection, as_of=AS_OF, policy=RightsizingPolicy())
    return {f.resource_id: f for f in found}


def test_two_of_eight_gpus_used_moves_to_the_cheapest_same_model_type(engine: Engine) -> None:
    load_snapshot(engine)
    # g5.48xlarge = 8x A10G (22888 MiB each) at 16.288/h. GPUs 0 and 1 work all week at 60%;
    # the other six never do. Peak memory 20 GiB = 20480 MiB per GPU.
    two_busy = lambda g, h: 60.0 if g < 2 else 0.0  # noqa: E731
    load(
        engine,
        gpu=gpu_rows("i-g5", WEEK, gpus=8, util=two_busy, mem_used=20 * GIB, model="A10G"),
        inventory=[resource("i-g5", instance_type="g5.48xlarge", gpu_count=8, gpu_model="A10G")],
    )

    finding = rightsize(engine)["i-g5"]

    # A10G types with >= 2 GPUs and >= 20480 MiB: g5.12xlarge (4, 5.672), g5.24xlarge (4, 8.144),
    # g5.48xlarge (8, 16.288). Cheapest: g5.12xlarge. (16.288 - 5.672) x 730 = 7749.68.
    assert finding.action == "resize_to:g5.12xlarge"
    assert finding.monthly_savings == Decimal("7749.68")
    assert finding.confidence == "high"
    evidence = finding.evidence
    assert (evidence["gpus_used"], evidence["gpus_installed"]) == (2, 8)
    assert evidence["per_gpu_active_share"]["GPU-i-g5-0"] == 1.0
    assert evidence["per_gpu_active_share"]["GPU-i-g5-7"] == 0.0
    assert evidence["peak_memory_gib"] == 20.0
    assert evidence["current"]["hourly_price"] == "16.288000"
    assert evidence["recommended"]["hourly_price"] == "5.672000"
    assert evidence["recommended"]["price_source"] == "snapshot-aws-2026-07-20"
    assert evidence["recommended"]["price_date"] == "2026-07-20"


def test_more_than_half_the_gpus_used_is_left_alone(engine: Engine) -> None:
    load_snapshot(engine)
    five_busy = lambda g, h: 60.0 if g < 5 else 0.0  # noqa: E731
    load(
        engine,
        gpu=gpu_rows("i-g5", WEEK, gpus=8, util=five_busy, mem_used=20 * GIB, model="A10G"),
        inventory=[resource("i-g5", instance_type="g5.48xlarge", gpu_count=8, gpu_model="A10G")],
    )
    assert rightsize(engine) == {}


@pytest.mark.parametrize(
    ("peak_gib", "expected_type", "saving"),
    [
        # 15 GiB fits a T4 (16384 MiB): g4dn.12xlarge, 4x T4 at 3.912.
        # (10.49264 - 3.912) x 730 = 4803.8672.
        (15, "g4dn.12xlarge", "4803.87"),
        # 20 GiB does not fit a T4; the cheapest 4-GPU type that fits is g6.12xlarge, 4x L4
        # (22888 MiB) at 4.6016. (10.49264 - 4.6016) x 730 = 4300.4592.
        (20, "g6.12xlarge", "4300.46"),
    ],
)
def test_every_gpu_lightly_used_moves_to_a_cheaper_model_at_medium_confidence(
    engine: Engine, peak_gib: int, expected_type: str, saving: str
) -> None:
    load_snapshot(engine)
    # g6e.12xlarge = 4x L40S at 10.49264/h. Every GPU works at 20% except 5 hours each at 40%:
    # 20 of 672 GPU-hours are at 40%, so the p95 (rank ceil(0.95 x 672) = 639) is 20%.
    light = lambda g, h: 40.0 if h in WEEK[:5] else 20.0  # noqa: E731
    busy = lambda g, h: 35.0  # noqa: E731 - p95 35% is not light work
    load(
        engine,
        gpu=[
            *gpu_rows("i-light", WEEK, gpus=4, util=light, mem_used=peak_gib * GIB),
            *gpu_rows("i-busy", WEEK, gpus=4, util=busy, mem_used=peak_gib * GIB),
        ],
        inventory=[
            resource(rid, instance_type="g6e.12xlarge", gpu_count=4, gpu_model="L40S")
            for rid in ("i-light", "i-busy")
        ],
    )

    found = rightsize(engine)

    assert set(found) == {"i-light"}
    finding = found["i-light"]
    assert finding.action == f"resize_to:{expected_type}"
    assert finding.monthly_savings == Decimal(saving)
    assert finding.confidence == "medium"
    assert finding.evidence["p95_util_percent"] == 20.0
    assert (finding.evidence["gpus_used"], finding.evidence["gpus_installed"]) == (4, 4)


def test_idle_rightsizing_and_spot_on_one_host_count_once_in_savings(engine: Engine) -> None:
    load_snapshot(engine)
    # GPU 0 worked at 60% for 144 of 168 h (share 0.857); nothing worked in the last 24 h.
    load_training_host(engine, as_of=AS_OF)

    result = run_analysis(engine, as_of=AS_OF, policy=IdleGpuPolicy())

    by_kind = {f.kind: f for f in result.findings}
    # idle: no billing, so the catalog price: 16.288 x 730 = 11890.24.
    assert by_kind["idle_gpu"].monthly_savings == Decimal("11890.24")
    # rightsizing: 1 A10G used -> g5.xlarge at 1.006: (16.288 - 1.006) x 730 = 11155.86.
    assert by_kind["gpu_rightsizing"].monthly_savings == Decimal("11155.86")
    # spot: ran 168 h of the 720 h lookback -> 168 x 730 / 720 = 170.333 h a month;
    # (16.288 - 4.8864) x 170.333... = 1942.0725... -> 1942.07.
    assert by_kind["spot_candidate"].monthly_savings == Decimal("1942.07")
    total = next(row for row in savings_totals(engine) if row["group"] == "total")
    assert total["findings"] == 3
    assert total["monthly_savings"] == Decimal("11890.24")  # the largest of the three only
