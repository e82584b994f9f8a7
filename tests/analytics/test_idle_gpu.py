"""idle_gpu and unmonitored_gpu through the real queries, on SQLite and PostgreSQL.

Every table is hand-made; the expected numbers are worked out in each test. The analysis ends at
AS_OF = 2024-09-30 12:00 UTC, so the 24 h window is [09-29 12:00, 09-30 12:00).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.engine import Engine

from analytics.policies import IdleGpuPolicy
from tests.analytics.gpu_tables import (
    AS_OF,
    GIB,
    HOUR,
    gpu_rows,
    hours_before,
    load,
    price,
    resource,
    run_rules,
    usage_line,
)

LAST_48 = hours_before(AS_OF, 48)
LAST_24 = hours_before(AS_OF, 24)


def test_a_host_busy_only_from_one_to_five_at_night_is_not_idle(engine: Engine) -> None:
    nightly = gpu_rows("i-nightly", LAST_48, util=lambda g, h: 90.0 if 1 <= h.hour <= 4 else 0.0)
    load(engine, gpu=[*nightly, *gpu_rows("i-idle", LAST_48)])

    found = run_rules(engine)

    assert ("idle_gpu", "i-nightly") not in found
    idle = found["idle_gpu", "i-idle"]
    # Never active in 48 h of samples: idle since the first sample, 48 h before AS_OF.
    assert idle.evidence["idle_since"] == "2024-09-28T12:00:00Z"
    assert idle.evidence["idle_hours"] == 48
    assert idle.evidence["hours_observed"] == 24
    assert idle.evidence["max_util_percent"] == 0.0
    assert idle.confidence == "high"
    assert idle.action == "terminate"


def test_mig_hosts_are_judged_on_engine_active(engine: Engine) -> None:
    no_util = lambda g, h: None  # noqa: E731 - MIG reports no utilization
    load(
        engine,
        gpu=[
            *gpu_rows("i-mig-idle", LAST_24, util=no_util, engine_active=lambda g, h: 0.0),
            *gpu_rows(
                "i-mig-busy",
                LAST_24,
                util=no_util,
                engine_active=lambda g, h: 40.0 if h == AS_OF - 9 * HOUR else 0.0,
            ),
            # Neither signal: samples exist but say nothing, so the host is not judged.
            *gpu_rows("i-mig-blind", LAST_24, util=no_util),
        ],
    )

    found = run_rules(engine)

    assert set(found) == {("idle_gpu", "i-mig-idle")}
    evidence = found["idle_gpu", "i-mig-idle"].evidence
    assert evidence["judged_on"].startswith("engine_active")
    assert evidence["max_util_percent"] is None
    assert evidence["max_engine_active_percent"] == 0.0


def test_two_of_eight_gpus_used_keeps_the_host_busy(engine: Engine) -> None:
    two_busy = lambda g, h: 60.0 if g < 2 else 0.0  # noqa: E731
    load(
        engine,
        gpu=[
            *gpu_rows("i-8x", LAST_24, gpus=8, util=two_busy),
            *gpu_rows("i-8x-idle", LAST_24, gpus=8),
        ],
    )

    found = run_rules(engine)

    assert set(found) == {("idle_gpu", "i-8x-idle")}
    evidence = found["idle_gpu", "i-8x-idle"].evidence
    assert evidence["gpu_count"] == 8 and evidence["gpus_reporting"] == 8


def test_memory_held_without_compute_is_still_idle_and_said_so(engine: Engine) -> None:
    load(engine, gpu=gpu_rows("i-notebook", LAST_24, mem_used=20 * GIB))

    evidence = run_rules(engine)["idle_gpu", "i-notebook"].evidence

    assert evidence["max_memory_used_bytes"] == 21_474_836_480
    assert evidence["memory_note"] == "a process holds 20.0 GiB of GPU memory but computes nothing"


def test_idle_only_for_the_last_30_hours_is_idle_at_24_with_cost_so_far(engine: Engine) -> None:
    busy_until = AS_OF - 31 * HOUR  # last active hour; idle from 09-29 06:00
    gpu = gpu_rows(
        "i-late", hours_before(AS_OF, 72), util=lambda g, h: 50.0 if h <= busy_until else 0.0
    )
    # 7 daily Usage rows in the 7-day lookback [09-23 12:00, 09-30 12:00): 420.00 / 168 h = 2.50/h.
    days = [dt.datetime(2024, 9, d, tzinfo=dt.UTC) for d in range(24, 31)]
    load(engine, gpu=gpu, billing=[usage_line("i-late", day, cost="60.00") for day in days])

    finding = run_rules(engine)["idle_gpu", "i-late"]

    assert finding.evidence["idle_since"] == "2024-09-29T06:00:00Z"
    assert finding.evidence["idle_hours"] == 30
    assert finding.evidence["hourly_cost"] == "2.500000"
    assert finding.evidence["cost_so_far"] == "75.00"  # 30 h x 2.50
    assert finding.monthly_savings == Decimal("1825.00")  # 730 h x 2.50
    assert finding.currency == "USD"
    assert finding.recommendation.endswith("Saves about 1,825.00 USD/month.")


def test_metrics_that_stop_mid_window_are_not_judged_idle(engine: Engine) -> None:
    # 90% of 24 h is 21.6 h, so 22 sampled hours are needed.
    load(
        engine,
        gpu=[
            *gpu_rows("i-stopped", LAST_24[:12]),
            *gpu_rows("i-22h", LAST_24[2:]),
            *gpu_rows("i-21h", LAST_24[3:]),
        ],
    )

    found = run_rules(engine)

    assert set(found) == {("idle_gpu", "i-22h")}
    assert found["idle_gpu", "i-22h"].evidence["hours_observed"] == 22
    assert found["idle_gpu", "i-22h"].evidence["min_hours_required"] == 22


def test_l40s_reporting_100_percent_with_no_memory_is_suspect_not_busy(engine: Engine) -> None:
    full = lambda g, h: 100.0  # noqa: E731
    load(
        engine,
        gpu=[
            *gpu_rows("i-l40s-trap", LAST_24, util=full, mem_used=0, model="NVIDIA L40S"),
            *gpu_rows("i-l40s-busy", LAST_24, util=full, mem_used=30 * GIB, model="NVIDIA L40S"),
            # The same sensor artefact, but DCGM engine-active shows real work.
            *gpu_rows(
                "i-l40s-engine",
                LAST_24,
                util=full,
                mem_used=0,
                engine_active=lambda g, h: 80.0,
                model="NVIDIA L40S",
            ),
        ],
    )

    found = run_rules(engine)

    assert set(found) == {("idle_gpu", "i-l40s-trap")}
    evidence = found["idle_gpu", "i-l40s-trap"].evidence
    assert evidence["max_util_percent"] == 100.0
    assert evidence["max_memory_used_bytes"] == 0
    assert evidence["suspect_util_hours"] == 24
    assert "not counted as work" in evidence["suspect_note"]


def test_credits_refunds_and_old_charges_never_count_as_spend(engine: Engine) -> None:
    days = [dt.datetime(2024, 9, d, tzinfo=dt.UTC) for d in range(24, 31)]
    billing = [usage_line("i-billed", day, cost="60.00") for day in days]
    # Data transfer on the same days adds cost but no billed hours: (420 + 7 x 0.84) / 168 h.
    billing += [usage_line("i-billed", day, cost="0.84") for day in days]
    billing += [
        usage_line("i-billed", days[-2], cost="-100.00", category="Credit"),
        usage_line("i-billed", days[-2], cost="-50.00", charge_class="Correction"),
        usage_line("i-billed", dt.datetime(2024, 9, 22, tzinfo=dt.UTC), cost="1000.00"),
    ]
    load(
        engine,
        gpu=[*gpu_rows("i-billed", LAST_24), *gpu_rows("i-cw", LAST_24, source="cloudwatch")],
        billing=billing,
    )

    found = run_rules(engine)

    finding = found["idle_gpu", "i-billed"]
    assert finding.evidence["hourly_cost"] == "2.535000"  # 425.88 / 168
    assert finding.monthly_savings == Decimal("1850.55")  # 730 x 2.535
    assert finding.evidence["hourly_cost_source"] == "billing"
    assert "effective cost 425.88 over 168 billed hours" in finding.evidence["cost_basis"]
    assert finding.provider == "aws" and finding.account_id == "111122223333"
    assert finding.confidence == "high"
    assert found["idle_gpu", "i-cw"].confidence == "medium"


def test_without_billing_the_catalog_on_demand_price_is_used_and_said(engine: Engine) -> None:
    load(
        engine,
        gpu=gpu_rows("i-cat", LAST_24, model="NVIDIA A10G"),
        inventory=[
            resource(
                "i-cat",
                instance_type="g5.4xlarge",
                gpu_count=1,
                gpu_model="NVIDIA A10G",
                owner="alice",
                team="nlp",
            )
        ],
        catalog=[
            price("g5.4xlarge", "1.50", at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
            price("g5.4xlarge", "1.624", at=dt.datetime(2024, 7, 20, tzinfo=dt.UTC)),
            price("g5.4xlarge", "9.99", at=dt.datetime(2024, 10, 15, tzinfo=dt.UTC)),  # future
            price("g5.4xlarge", "0.65", at=dt.datetime(2024, 9, 1, tzinfo=dt.UTC), model="spot"),
        ],
    )

    finding = run_rules(engine)["idle_gpu", "i-cat"]

    assert finding.monthly_savings == Decimal("1185.52")  # 730 x 1.624
    assert finding.evidence["hourly_cost"] == "1.624000"
    assert finding.evidence["hourly_cost_source"] == "catalog_on_demand"
    assert finding.evidence["cost_basis"].startswith("no billing for this resource in the last 7")
    assert "g5.4xlarge in us-east-1" in finding.evidence["cost_basis"]
    assert (finding.owner, finding.team, finding.region) == ("alice", "nlp", "us-east-1")
    assert "1× NVIDIA A10G" in finding.recommendation


def test_a_billed_gpu_instance_without_telemetry_is_unmonitored(engine: Engine) -> None:
    yesterday = dt.datetime(2024, 9, 29, tzinfo=dt.UTC)  # the daily row overlaps the window
    load(
        engine,
        gpu=gpu_rows("i-watched", LAST_24, util=lambda g, h: 70.0),
        billing=[
            usage_line("i-blind", yesterday, cost="527.00"),
            usage_line("i-cpu", yesterday, cost="2.30"),
            usage_line("i-watched", yesterday, cost="30.00"),
            usage_line("i-gone", dt.datetime(2024, 9, 24, tzinfo=dt.UTC), cost="100.00"),
            usage_line("i-terminated", yesterday, cost="40.00"),
        ],
        inventory=[
            resource("i-blind", instance_type="p4d.24xlarge", owner="bob"),
            resource("i-cpu", instance_type="m5.large"),
            resource("i-watched", gpu_count=1),
            resource("i-gone", gpu_count=4),
            resource("i-terminated", gpu_count=1, state="terminated"),
        ],
        types=[
            {
                "provider": "aws",
                "instance_type": "p4d.24xlarge",
                "gpu_count": 8,
                "gpu_model": "A100",
                "source": "test",
            },
            {
                "provider": "aws",
                "instance_type": "m5.large",
                "gpu_count": 0,
                "gpu_model": None,
                "source": "test",
            },
        ],
    )

    found = run_rules(engine)

    assert set(found) == {("unmonitored_gpu", "i-blind")}
    finding = found["unmonitored_gpu", "i-blind"]
    assert finding.monthly_savings == Decimal(0)
    assert finding.owner == "bob"
    assert finding.evidence["gpu_count"] == 8
    assert finding.evidence["hourly_cost"] == "21.958333"  # 527.00 / 24 h
    assert "dcgm-exporter" in finding.recommendation


def test_a_longer_window_comes_from_the_policy(engine: Engine) -> None:
    # Active 30 h ago: idle at a 24 h window, not at a 48 h one.
    load(
        engine,
        gpu=gpu_rows("i-x", LAST_48, util=lambda g, h: 50.0 if h == AS_OF - 30 * HOUR else 0.0),
    )

    assert ("idle_gpu", "i-x") in run_rules(engine)
    assert run_rules(engine, policy=IdleGpuPolicy(window_hours=48)) == {}


def test_an_idle_n1_vm_costs_its_machine_type_plus_its_attached_gpus(engine: Engine) -> None:
    """GCE bills a GPU attached to an N1 VM on top of the machine type; A2 has it built in."""

    def gce(resource_id: str, instance_type: str, count: int, model: str) -> dict[str, object]:
        return resource(
            resource_id, provider="gcp", account_id="ml-train", region="us-east1",
            instance_type=instance_type, gpu_count=count, gpu_model=model,
        )  # fmt: skip

    def gcp_price(sku: str, value: str, *, on: dt.date, source: str) -> dict[str, object]:
        at = dt.datetime(on.year, on.month, on.day, tzinfo=dt.UTC)
        return price(sku, value, at=at) | {
            "provider": "gcp",
            "region": "us-east1",
            "source": source,
        }

    snapshot, catalog = "snapshot-gcp-2024-07-30", "gcp-cloud-billing-catalog"
    ids = ("gce-n1-t4", "gce-n1-p100", "gce-a2")
    load(
        engine,
        gpu=[
            row | {"provider": "gcp"}
            for rid, gpus in zip(ids, (2, 1, 1), strict=True)
            for row in gpu_rows(rid, LAST_24, gpus=gpus)
        ],
        inventory=[
            gce("gce-n1-t4", "n1-standard-8", 2, "T4"),
            gce("gce-n1-p100", "n1-standard-8", 1, "P100"),  # no P100 price known
            gce("gce-a2", "a2-highgpu-1g", 1, "A100"),
        ],
        catalog=[
            gcp_price("n1-standard-8", "0.379998", on=dt.date(2024, 7, 30), source=snapshot),
            gcp_price("a2-highgpu-1g", "3.673385", on=dt.date(2024, 7, 30), source=snapshot),
            gcp_price("gpu:T4", "0.40", on=dt.date(2024, 1, 1), source=catalog),  # superseded
            gcp_price("gpu:T4", "0.35", on=dt.date(2024, 8, 1), source=catalog),
            gcp_price("gpu:T4", "9.99", on=dt.date(2024, 10, 15), source=catalog),  # future
            gcp_price("gpu:A100", "2.933908", on=dt.date(2024, 8, 1), source=catalog),
        ],
    )

    found = run_rules(engine)

    t4 = found["idle_gpu", "gce-n1-t4"]
    # 0.379998 + 2 x 0.35 = 1.079998 per hour; 730 x 1.079998 = 788.39854 -> 788.40
    assert t4.evidence["hourly_cost"] == "1.079998"
    assert t4.monthly_savings == Decimal("788.40")
    assert t4.evidence["hourly_cost_source"] == "catalog_on_demand"
    assert (
        "n1-standard-8 + 2 x gpu:T4 in us-east1 "
        "(snapshot-gcp-2024-07-30 + gcp-cloud-billing-catalog, 2024-08-01)"
    ) in t4.evidence["cost_basis"]
    # the machine price alone would understate the VM: no price, saving unknown
    p100 = found["idle_gpu", "gce-n1-p100"]
    assert p100.evidence["hourly_cost_source"] == "unknown"
    assert p100.monthly_savings == Decimal(0)
    # the A2's GPU is in its machine-type price: 730 x 3.673385 = 2681.57105 -> 2681.57
    a2 = found["idle_gpu", "gce-a2"]
    assert a2.evidence["hourly_cost"] == "3.673385"
    assert a2.monthly_savings == Decimal("2681.57")
