"""A small hand-made warehouse for September 2024, with every figure the report shows worked
out by hand in the tests that read it (tests/reports/test_monthly.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from tests.analytics.gpu_tables import gpu_rows, load, resource, usage_line
from warehouse.schema import collector_runs, findings

UTC = dt.UTC
AS_OF = dt.datetime(2024, 10, 10, 12, tzinfo=UTC)
ANALYZED = dt.datetime(2024, 10, 10, 6, tzinfo=UTC)
SEP = dt.datetime(2024, 9, 1, tzinfo=UTC)
OCT = dt.datetime(2024, 10, 1, tzinfo=UTC)
AUG = dt.datetime(2024, 8, 1, tzinfo=UTC)
ACCOUNTS = {  # provider -> (billing account, load id)
    "AWS": ("acct-aws", "load-aws"),
    "Google Cloud": ("acct-gcp", "load-gcp"),
    "Microsoft": ("acct-az", "load-az"),
}


def day(month: int, number: int) -> dt.datetime:
    return dt.datetime(2024, month, number, tzinfo=UTC)


def line(
    when: dt.datetime,
    cost: str,
    *,
    provider: str = "AWS",
    service: str = "Amazon EC2",
    team: str | None = "nlp",
    currency: str = "USD",
    category: str = "Usage",
) -> dict[str, Any]:
    account, load_id = ACCOUNTS[provider]
    period = dt.datetime(when.year, when.month, 1, tzinfo=UTC)
    period_end = period.replace(month=period.month % 12 + 1, year=period.year + period.month // 12)
    return usage_line("i-big", when, cost=cost, category=category) | {
        "provider_name": provider,
        "service_name": service,
        "billing_currency": currency,
        "billing_account_id": account,
        "billing_period_start": period,
        "billing_period_end": period_end,
        "tags": {"team": team} if team else {},
        "x_load_id": f"{load_id}-{period:%Y-%m}",
    }


BILLING = [
    # September, USD: 100.25 + 50.50 + 10.10 + 200.00 - 5.00 = 355.85
    line(day(9, 1), "100.25"),
    line(day(9, 15), "50.50"),
    line(day(9, 30), "10.10", service="Amazon S3", team=None),
    line(day(9, 12), "-5.00", category="Credit"),
    line(day(9, 10), "200.00", provider="Google Cloud", service="Compute Engine", team="vision"),
    # September, EUR: never added to the USD figures.
    line(
        day(9, 5),
        "40.00",
        provider="Microsoft",
        service="Virtual Machines",
        team="research",
        currency="EUR",
    ),
    # August, USD: 120.00 + 250.00 = 370.00
    line(day(8, 20), "120.00"),
    line(day(8, 31), "250.00", provider="Google Cloud", service="Compute Engine", team="vision"),
    # October: outside the month.
    line(day(10, 1), "999.00"),
]


def finding(
    finding_id: int,
    kind: str,
    resource_id: str,
    saving: str,
    *,
    status: str = "open",
    owner: str | None = None,
    team: str | None = None,
    evidence: dict[str, Any] | None = None,
    resolved_at: dt.datetime | None = None,
    realized: str | None = None,
    confidence: str = "high",
) -> dict[str, Any]:
    return {
        "id": finding_id,
        "fingerprint": f"fp-{finding_id}",
        "kind": kind,
        "resource_id": resource_id,
        "provider": "aws",
        "account_id": "111122223333",
        "region": "us-east-1",
        "owner": owner,
        "team": team,
        "status": status,
        "confidence": confidence,
        "monthly_savings": Decimal(saving),
        "currency": "USD",
        "recommendation": f"Act on {resource_id} <now> & save",
        "evidence": evidence or {},
        "first_seen": day(9, 2),
        "last_seen": ANALYZED,
        "resolved_at": resolved_at,
        "realized_monthly_savings": Decimal(realized) if realized is not None else None,
        "updated_at": ANALYZED,
    }


QUOTE_NOW = {
    "instance_type": "g6.12xlarge",
    "gpu_count": 4,
    "gpu_model": "NVIDIA L4",
    "hourly_price": "4.6016",
    "currency": "USD",
}
QUOTE_NEW = {
    "instance_type": "g6.xlarge",
    "gpu_count": 1,
    "gpu_model": "NVIDIA L4",
    "hourly_price": "0.8048",
    "currency": "USD",
}
FINDINGS = [
    finding(
        1,
        "idle_gpu",
        "i-big",
        "1000.00",
        owner="alice",
        team="nlp",
        evidence={
            "gpu_count": 4,
            "gpu_model": "NVIDIA L4",
            "hourly_cost": "1.369863",
            "hourly_cost_source": "billing",
            "idle_since": "2024-09-20T00:00:00Z",
            "cost_so_far": "250.00",
        },
    ),
    finding(
        2,
        "gpu_rightsizing",
        "i-big",
        "600.00",
        owner="alice",
        team="nlp",
        evidence={
            "current": QUOTE_NOW,
            "recommended": QUOTE_NEW,
            "gpus_used": 1,
            "gpus_installed": 4,
        },
    ),
    finding(
        3,
        "spot_candidate",
        "i-train",
        "300.00",
        owner="bob",
        team="vision",
        confidence="medium",
        evidence={
            "on_demand_hourly": "2.00",
            "spot_hourly": "0.80",
            "reason": "workload_tag",
            "workload_tag": "workload",
            "workload": "training",
            "interruption_risk": "Spot can be reclaimed with 2 minutes' notice",
        },
    ),
    finding(
        4,
        "cold_storage",
        "s3://acme/raw/",
        "25.50",
        evidence={
            "movable_gb": "1200",
            "movable_objects": 5000,
            "idle_days": 400,
            "idle_basis": "modified",
            "storage_class": "STANDARD",
            "target_class": "DEEP_ARCHIVE",
        },
    ),
    finding(5, "spend_anomaly", "aws/111122223333/Amazon EC2", "0"),
    finding(
        6,
        "unmonitored_gpu",
        "i-blind",
        "0",
        owner="carol",
        team="platform",
        evidence={"gpu_count": 8, "gpu_model": "A100", "instance_type": "p4d.24xlarge"},
    ),
    finding(7, "idle_gpu", "i-snooze", "80.00", status="snoozed", owner="dave"),
    finding(
        8,
        "idle_gpu",
        "i-gone",
        "500.00",
        status="resolved",
        owner="erin",
        team="nlp",
        resolved_at=day(9, 20),
        realized="480.00",
    ),
    finding(
        9, "cold_storage", "s3://acme/tmp/", "12.00", status="resolved", resolved_at=day(9, 28)
    ),
    finding(
        10,
        "idle_gpu",
        "i-old",
        "100.00",
        status="resolved",
        resolved_at=day(8, 30),
        realized="100.00",
    ),
    finding(11, "idle_gpu", "i-meh", "70.00", status="dismissed"),
]


def hours(first: dt.datetime, count: int) -> list[dt.datetime]:
    return [first + dt.timedelta(hours=n) for n in range(count)]


def build(engine: Engine) -> None:
    sep29 = day(9, 29)
    load(
        engine,
        billing=BILLING,
        # i-big: 4 L4 GPUs x 10 h at 25 % -> 40 GPU-hours bought, 10 used.
        # i-train: 1 H100 x 10 h at 80 % -> 10 bought, 8 used.
        # i-mig: 5 h with engine-active only -> 5 bought, 0 used, no utilization reading.
        # One August hour of i-big stays out of September.
        gpu=gpu_rows("i-big", hours(sep29, 10), gpus=4, util=lambda g, h: 25.0, model="NVIDIA L4")
        + gpu_rows(
            "i-train", hours(sep29, 10), util=lambda g, h: 80.0, model="NVIDIA H100 80GB HBM3"
        )
        + gpu_rows(
            "i-mig", hours(sep29, 5), util=lambda g, h: None, engine_active=lambda g, h: 50.0
        )
        + gpu_rows("i-big", [day(8, 31)], gpus=4, util=lambda g, h: 90.0, model="NVIDIA L4"),
        inventory=[
            resource("i-big", gpu_count=4, gpu_model="NVIDIA L4", team="nlp"),
            resource("i-train", gpu_count=1, gpu_model="NVIDIA H100 80GB HBM3", team="vision"),
        ],
    )
    with engine.begin() as connection:
        connection.execute(findings.insert(), FINDINGS)
        # AWS's September bill was delivered 6 days after the month: final. Google's 1 day
        # after: still an estimate. Microsoft's came as a file with no recorded run: estimate.
        connection.execute(
            collector_runs.insert(),
            [
                _run("load-aws-2024-09", finished=day(10, 6)),
                _run("load-gcp-2024-09", finished=day(10, 2)),
            ],
        )


def _run(load_id: str, *, finished: dt.datetime) -> dict[str, Any]:
    return {
        "source": "test",
        "started_at": finished - dt.timedelta(minutes=1),
        "finished_at": finished,
        "status": "succeeded",
        "rows": 1,
        "details": {"load_id": load_id},
    }
