"""spot_candidate through the real queries and the real price snapshot, on SQLite and PostgreSQL.

AS_OF = 2026-08-10 12:00 UTC; the 30-day lookback is [07-11 12:00, 08-10 12:00), 720 hours.
GCP prices are the snapshot's (2026-07-30, inside the lookback); AWS spot history is hand-made
(no public AWS GPU spot history exists), written as the collector stores it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from analytics.findings import Finding
from analytics.policies import SpotPolicy
from collectors.price_snapshot import load_snapshot
from spendwatch.commands.analyze import spot_findings
from tests.analytics.gpu_tables import gpu_rows, hours_before, load, resource, usage_line

AS_OF = dt.datetime(2026, 8, 10, 12, tzinfo=dt.UTC)
MONTH = hours_before(AS_OF, 720)


def spot_point(price: str, *, days_ago: int) -> dict[str, Any]:
    return {
        "provider": "aws",
        "region": "us-east-1",
        "sku": "g5.xlarge",
        "pricing_model": "spot",
        "unit": "hour",
        "price": Decimal(price),
        "currency": "USD",
        "effective_at": AS_OF - dt.timedelta(days=days_ago),
        "source": "aws-spot-price-history",
    }


def on_demand(resource_id: str, instance_type: str, **values: Any) -> dict[str, Any]:
    # Every row names the same columns (one executemany); ``tags`` defaults to none.
    return resource(
        resource_id, instance_type=instance_type, lifecycle="on_demand", **({"tags": None} | values)
    )


def spot(engine: Engine) -> dict[str, Finding]:
    with engine.connect() as connection:
        found = spot_findings(connection, as_of=AS_OF, policy=SpotPolicy())
    return {f.resource_id: f for f in found}


def test_tagged_short_lived_and_long_running_instances(engine: Engine) -> None:
    load_snapshot(engine)
    # Ten spot prices in the lookback, 0.30 .. 0.39: p90 is rank ceil(0.9 x 10) = 9 -> 0.38.
    # An older, dearer price (40 days ago) is outside the lookback and must not count.
    points = [spot_point(f"0.3{n}", days_ago=n + 1) for n in range(10)]
    short_hours = [h for h in MONTH if h.hour < 3]  # 00:00-02:59 every day: 30 runs of 3 h
    gcp = {"provider": "gcp", "region": "us-central1"}
    load(
        engine,
        gpu=[
            *gpu_rows("i-tagged", MONTH, util=lambda g, h: 90.0),
            *gpu_rows("i-short", short_hours, util=lambda g, h: 90.0),
            *gpu_rows("i-long", MONTH, util=lambda g, h: 90.0),
            *gpu_rows("i-spot-already", short_hours, util=lambda g, h: 90.0),
        ],
        inventory=[
            on_demand("i-tagged", "g2-standard-8", tags={"workload": "Training"}, **gcp),
            on_demand("i-short", "g5.xlarge"),
            on_demand("i-long", "g5.xlarge", tags={"workload": "inference"}),
            resource("i-spot-already", instance_type="g5.xlarge", lifecycle="spot", tags=None),
        ],
        catalog=[*points, spot_point("0.99", days_ago=40)],
    )

    found = spot(engine)

    assert set(found) == {"i-tagged", "i-short"}
    tagged = found["i-tagged"]
    # g2-standard-8 in us-central1: on demand 0.853624271, spot 0.479872 (snapshot 07-30).
    # Ran all 720 h -> 730 h a month: (0.853624271 - 0.479872) x 730 = 272.839... -> 272.84.
    assert tagged.monthly_savings == Decimal("272.84")
    assert tagged.confidence == "high"
    assert tagged.evidence["reason"] == "workload_tag"
    assert tagged.evidence["interruption_notice"] == "30-second"
    assert "checkpoint your jobs" in tagged.evidence["interruption_risk"]
    short = found["i-short"]
    # 30 runs of 3 h = 90 h in 720 h -> 91.25 h a month; g5.xlarge on demand 1.006.
    # (1.006 - 0.38) x 91.25 = 57.1225 -> 57.12.
    assert short.monthly_savings == Decimal("57.12")
    assert short.confidence == "medium"
    evidence = short.evidence
    assert (evidence["reason"], evidence["runs"], evidence["median_run_hours"]) == (
        "short_runs",
        30,
        3.0,
    )
    assert evidence["spot_hourly"] == "0.38"
    assert evidence["interruption_notice"] == "2-minute"
    assert "2-minute notice" in short.recommendation


def test_runs_from_hourly_billing_when_there_is_no_telemetry(engine: Engine) -> None:
    load_snapshot(engine)
    # Billed 2 h a day for the last 10 days (hourly lines), no GPU telemetry: median run 2 h.
    starts = [h for h in MONTH[-240:] if h.hour in (8, 9)]
    load(
        engine,
        billing=[usage_line("i-billed", start, cost="1.006", hours=1) for start in starts],
        inventory=[on_demand("i-billed", "g5.xlarge")],
        catalog=[spot_point("0.40", days_ago=2)],
    )

    finding = spot(engine)["i-billed"]

    # 20 h in 720 h -> 20 x 730 / 720 = 20.2777... h a month; (1.006 - 0.40) x 20.2777...
    # = 12.2883... -> 12.29.
    assert finding.monthly_savings == Decimal("12.29")
    assert (finding.evidence["runs_from"], finding.evidence["runs"]) == ("billing", 10)
