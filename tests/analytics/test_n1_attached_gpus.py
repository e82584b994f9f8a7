"""gpu_rightsizing and spot_candidate for N1 VMs with attached GPUs, on SQLite and PostgreSQL.

GCE bills such a VM as its machine type + count x the per-GPU price in its region. Machine-type
prices are the shipped snapshot's (GCP us-central1, 2026-07-30): n1-standard-8 on demand
0.379998, spot 0.13402; n1-standard-16 on demand 0.759996. Per-GPU prices are in no offline
sample, so they are hand-made here, written as the Cloud Billing Catalog collector stores them
(``gpu:<model>``, source gcp-cloud-billing-catalog). AS_OF = 2026-08-10 12:00 UTC.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from analytics.attached_gpus import attachable_counts
from analytics.findings import Finding
from analytics.policies import RightsizingPolicy, SpotPolicy
from collectors.price_snapshot import load_snapshot
from spendwatch.commands.analyze import rightsizing_findings, spot_findings
from tests.analytics.gpu_tables import GIB, gpu_rows, hours_before, load, resource

AS_OF = dt.datetime(2026, 8, 10, 12, tzinfo=dt.UTC)
WEEK = hours_before(AS_OF, 168)
MONTH = hours_before(AS_OF, 720)
CATALOG = "gcp-cloud-billing-catalog"


def gce(
    resource_id: str, machine_type: str, count: int, model: str, **values: Any
) -> dict[str, Any]:
    return resource(
        resource_id,
        provider="gcp",
        account_id="ml-train",
        region="us-central1",
        instance_type=machine_type,
        gpu_count=count,
        gpu_model=model,
        lifecycle="on_demand",
        tags=values.pop("tags", None),
        **values,
    )


def gpu_price(
    model: str, value: str, *, at: dt.datetime, pricing: str = "on_demand"
) -> dict[str, Any]:
    return {
        "provider": "gcp",
        "region": "us-central1",
        "sku": f"gpu:{model}",
        "pricing_model": pricing,
        "unit": "hour",
        "price": Decimal(value),
        "currency": "USD",
        "effective_at": at,
        "source": CATALOG,
    }


def telemetry(
    resource_id: str, hours: list[dt.datetime], *, gpus: int, busy: int
) -> list[dict[str, Any]]:
    """GPUs 0 .. busy-1 at 60% every hour, the rest at 0%; 10 GiB held on each."""
    rows = gpu_rows(
        resource_id,
        hours,
        gpus=gpus,
        util=lambda g, h: 60.0 if g < busy else 0.0,
        mem_used=10 * GIB,
        model="Tesla T4",
    )
    return [row | {"provider": "gcp"} for row in rows]


def by_resource(found: list[Finding]) -> dict[str, Finding]:
    return {f.resource_id: f for f in found}


@pytest.mark.parametrize(
    ("model", "machine_type", "counts"),
    [
        ("T4", "n1-standard-16", [1, 2, 4]),  # 16 vCPUs, 60 GB: within every T4 limit
        ("V100", "n1-standard-16", [2, 4, 8]),  # one V100 allows at most 12 vCPUs
        ("T4", "n1-standard-64", [4]),  # 64 vCPUs: only 4 T4 allow more than 48
        ("P100", "n1-highmem-16", [1, 2, 4]),  # 16 vCPUs, 104 GB: exactly one P100's limits
        ("K80", "n1-standard-64", []),  # 240 GB is over 8 K80s' 208 GB
        ("V100", "n1-custom-12-81920", [2, 4, 8]),  # 80 GB is over one V100's 78 GB
        ("A100", "n1-standard-8", []),  # not attachable to N1
        ("T4", "n1-megamem-96", []),  # no GPUs on memory-optimized N1
    ],
)
def test_attachable_counts_follow_googles_n1_table(
    model: str, machine_type: str, counts: list[int]
) -> None:
    assert attachable_counts(model, machine_type) == counts


def test_an_n1_vm_using_few_of_its_gpus_is_told_to_detach_the_rest(engine: Engine) -> None:
    load_snapshot(engine)
    load(
        engine,
        gpu=[
            *telemetry("vm-t4", WEEK, gpus=4, busy=2),
            *telemetry("vm-v100", WEEK, gpus=4, busy=1),
            *telemetry("vm-busy", WEEK, gpus=4, busy=3),
            *telemetry("vm-p4", WEEK, gpus=4, busy=1),
        ],
        inventory=[
            gce("vm-t4", "n1-standard-16", 4, "T4", owner="dana"),
            gce("vm-v100", "n1-standard-16", 4, "V100"),
            gce("vm-busy", "n1-standard-16", 4, "T4"),
            gce("vm-p4", "n1-standard-16", 4, "P4"),  # no P4 price: not judged
        ],
        catalog=[
            gpu_price("T4", "0.40", at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),  # superseded
            gpu_price("T4", "0.35", at=dt.datetime(2026, 8, 1, tzinfo=dt.UTC)),
            gpu_price("T4", "9.99", at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC)),  # after AS_OF
            gpu_price("V100", "2.48", at=dt.datetime(2026, 8, 1, tzinfo=dt.UTC)),
        ],
    )

    with engine.connect() as connection:
        found = by_resource(
            rightsizing_findings(connection, as_of=AS_OF, policy=RightsizingPolicy())
        )

    # vm-busy uses 3 of 4 (more than half); vm-p4 has no per-GPU price.
    assert set(found) == {"vm-t4", "vm-v100"}
    t4 = found["vm-t4"]
    # 2 of 4 T4 used; n1-standard-16 may have 1, 2 or 4 T4: keep 2, detach 2.
    # 2 x 0.35 x 730 = 511.00
    assert t4.action == "detach_gpus_to:2"
    assert t4.monthly_savings == Decimal("511.00")
    assert t4.confidence == "high"
    assert t4.owner == "dana"
    assert t4.recommendation == (
        "Detach 2 of 4 T4 GPUs from vm-t4 (n1-standard-16), keeping 2: only 2 of the 4 GPUs "
        "were active in at least 5% of hours over 7 days. Saves about 511.00 USD/month "
        "(2 × 0.35 USD/h per GPU × 730 h)."
    )
    evidence = t4.evidence
    assert (evidence["gpus_used"], evidence["gpus_installed"], evidence["gpus_to_detach"]) == (
        2,
        4,
        2,
    )
    assert evidence["peak_memory_gib"] == 10.0
    # machine 0.759996 + 4 x 0.35 = 2.159996 now; 0.759996 + 2 x 0.35 = 1.459996 after
    assert evidence["current"]["hourly_price"] == "2.159996"
    assert evidence["current"]["priced_as"] == "n1-standard-16 + 4 x gpu:T4"
    assert evidence["recommended"]["hourly_price"] == "1.459996"
    assert evidence["recommended"]["gpu_count"] == 2
    assert evidence["recommended"]["price_source"] == f"snapshot-gcp-2026-07-30 + {CATALOG}"
    assert evidence["recommended"]["price_date"] == "2026-08-01"
    # 1 V100 is used, but one V100 allows at most 12 vCPUs and n1-standard-16 has 16: keep 2.
    # 2 x 2.48 x 730 = 3620.80
    v100 = found["vm-v100"]
    assert v100.action == "detach_gpus_to:2"
    assert v100.monthly_savings == Decimal("3620.80")
    assert "only 1 of the 4 GPUs was active" in v100.recommendation
    assert "2, 4 or 8" in v100.evidence["basis"]


def test_an_on_demand_n1_vm_is_priced_on_spot_as_machine_plus_gpus(engine: Engine) -> None:
    load_snapshot(engine)
    # Spot T4 over the last ten days: 0.10, 0.11 .. 0.19 (1 .. 10 days ago); and 0.30 from
    # 40 days ago, still in force when the snapshot's machine spot price (0.13402) appears on
    # 07-30 06:13, inside the 30-day lookback.
    t4_spot = [
        gpu_price("T4", f"0.1{n}", at=AS_OF - dt.timedelta(days=n + 1), pricing="spot")
        for n in range(10)
    ]
    load(
        engine,
        gpu=[
            *telemetry("vm-train", MONTH, gpus=2, busy=2),
            *telemetry("vm-nogpuprice", MONTH, gpus=1, busy=1),
        ],
        inventory=[
            gce("vm-train", "n1-standard-8", 2, "T4", tags={"workload": "training"}),
            gce("vm-nogpuprice", "n1-standard-8", 1, "V100", tags={"workload": "training"}),
        ],
        catalog=[
            gpu_price("T4", "0.35", at=dt.datetime(2026, 8, 1, tzinfo=dt.UTC)),
            *t4_spot,
            gpu_price("T4", "0.30", at=AS_OF - dt.timedelta(days=40), pricing="spot"),
        ],
    )

    with engine.connect() as connection:
        found = by_resource(spot_findings(connection, as_of=AS_OF, policy=SpotPolicy()))

    # No V100 price at all: the VM cannot be priced, so no finding.
    assert set(found) == {"vm-train"}
    finding = found["vm-train"]
    # Sum points in the lookback: 07-30 06:13 -> 0.13402 + 2 x 0.30 = 0.73402, and one per T4
    # change -> 0.13402 + 2 x 0.1n = 0.33402 .. 0.51402. p90 of 11 points is rank
    # ceil(0.9 x 11) = 10 -> 0.51402. On demand 0.379998 + 2 x 0.35 = 1.079998.
    # Ran all 720 h -> 730 h a month: (1.079998 - 0.51402) x 730 = 413.16394 -> 413.16.
    assert finding.monthly_savings == Decimal("413.16")
    assert finding.confidence == "high"
    evidence = finding.evidence
    assert evidence["on_demand_hourly"] == "1.079998"
    assert evidence["spot_hourly"] == "0.51402"
    assert evidence["priced_as"] == "n1-standard-8 + 2 x gpu:T4"
    assert evidence["spot_basis"] == "p90 of 11 spot prices since 2026-07-11"
    assert evidence["spot_source"] == f"snapshot-gcp-2026-07-30 + {CATALOG}"
    assert finding.recommendation.startswith(
        "Run vm-train (n1-standard-8 with 2 T4 GPUs attached) on spot: tagged workload=training."
    )
