"""One Block Kit message per finding kind, against golden files (SPENDWATCH_UPDATE_GOLDEN=1).

Each snapshot carries the evidence keys its rule writes (analytics/<rule>.py), with figures
worked out below from the public price samples in ../shared/data.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from alerts.digest import digest_message
from alerts.messages import finding_message, resolved_message
from spendwatch.demo import build_demo
from tests.alerts.test_messages import DASHBOARD, IDLE, assert_golden
from warehouse.db import make_engine
from warehouse.findings_store import list_findings

BASE: dict[str, Any] = {
    "provider": "aws",
    "account_id": "123456789012",
    "region": "us-east-1",
    "owner": "ana@example.com",
    "team": "nlp",
    "currency": "USD",
    "confidence": "high",
}
# spend_anomaly (analytics/anomalies.py): 28 baseline days alternating 100/120 (median 110,
# MAD 10), then 300 on 09-30: excess 190, robust z 190 / (1.4826 x 10) = 12.815 -> 12.82.
ANOMALY: dict[str, Any] = BASE | {
    "id": 7,
    "kind": "spend_anomaly",
    "resource_id": "AWS/111122223333/Amazon EC2",
    "provider": "AWS",
    "account_id": "111122223333",
    "region": None,
    "owner": None,
    "team": None,
    "monthly_savings": "0",
    "recommendation": (
        "Amazon EC2 in AWS account 111122223333 cost 300.00 USD on 2024-09-30, 190.00 above its "
        "usual 110.00/day (robust z 12.8); check what changed that day."
    ),
    "evidence": {
        "day": "2024-09-30",
        "amount": "300.00",
        "currency": "USD",
        "baseline_median": "110.00",
        "baseline_mad": "10.00",
        "robust_z": 12.82,
        "excess_over_median": "190.00",
        "baseline_start": "2024-09-02",
        "baseline_end": "2024-09-29",
        "baseline_days": 28,
        "threshold_robust_z": 3.0,
        "threshold_min_amount": "50.00",
        "mad_scale": 1.4826,
        "spend_definition": "effective cost of usage charges; credits and refunds excluded",
    },
}
# unmonitored_gpu (analytics/idle_gpu.py): a g5.4xlarge (1x A10G) billed at 1.624/h, the
# on-demand price in the public AWS price table and the FOCUS sample; no saving claimed.
UNMONITORED: dict[str, Any] = BASE | {
    "id": 8,
    "kind": "unmonitored_gpu",
    "resource_id": "i-0feedc0ffee000001",
    "monthly_savings": "0",
    "recommendation": (
        "Install dcgm-exporter (Prometheus/Kubernetes) or the NVML agent on i-0feedc0ffee000001 "
        "(1× NVIDIA A10G): it is billed but sent no GPU telemetry in the last 24 h, so idle and "
        "rightsizing checks cannot see it."
    ),
    "evidence": {
        "window_start": "2024-09-29T12:00:00Z",
        "window_end": "2024-09-30T12:00:00Z",
        "window_hours": 24,
        "gpu_samples": 0,
        "gpu_count": 1,
        "gpu_model": "NVIDIA A10G",
        "instance_type": "g5.4xlarge",
        "hourly_cost": "1.624000",
        "hourly_cost_source": "billing",
        "cost_basis": "effective cost 272.832 over 168 billed hours in the last 7 days",
    },
}
# gpu_rightsizing (analytics/rightsizing.py): GCP us-central1 from pricing.yml, a2-highgpu-8g
# 29.38708/h -> a2-highgpu-2g 7.34677/h: (29.38708 - 7.34677) x 730 = 16089.4263 -> 16089.43.
RIGHTSIZING: dict[str, Any] = BASE | {
    "id": 9,
    "kind": "gpu_rightsizing",
    "resource_id": "projects/ml/zones/us-central1-a/instances/trainer-8",
    "provider": "gcp",
    "account_id": "ml-prod",
    "region": "us-central1",
    "monthly_savings": "16089.43",
    "recommendation": (
        "Resize projects/ml/zones/us-central1-a/instances/trainer-8 from a2-highgpu-8g "
        "(8× NVIDIA A100 40GB) to a2-highgpu-2g (2× NVIDIA A100 40GB): 2 of 8 GPUs did work in "
        "the last 7 days. Saves about 16089.43 USD/month."
    ),
    "evidence": {
        "window_start": "2024-09-23T12:00:00Z",
        "window_end": "2024-09-30T12:00:00Z",
        "hours_observed": 168,
        "gpus_used": 2,
        "gpus_installed": 8,
        "per_gpu_active_share": [1.0, 0.5, 0, 0, 0, 0, 0, 0],
        "min_active_share": 0.05,
        "p95_util_percent": 61.5,
        "peak_memory_bytes": 21474836480,
        "peak_memory_gib": 20.0,
        "current": {
            "instance_type": "a2-highgpu-8g",
            "gpu_count": 8,
            "gpu_model": "NVIDIA A100 40GB",
            "gpu_memory_bytes": 42949672960,
            "hourly_price": "29.38708",
            "currency": "USD",
            "price_source": "snapshot-2026-07-30",
            "price_date": "2026-07-30",
        },
        "recommended": {
            "instance_type": "a2-highgpu-2g",
            "gpu_count": 2,
            "gpu_model": "NVIDIA A100 40GB",
            "gpu_memory_bytes": 42949672960,
            "hourly_price": "7.34677",
            "currency": "USD",
            "price_source": "snapshot-2026-07-30",
            "price_date": "2026-07-30",
        },
        "basis": "same GPU model, fewer GPUs",
    },
}
# spot_candidate (analytics/spot.py): g5.4xlarge on demand 1.624/h, p90 spot 0.38/h (hand-made:
# no public AWS GPU spot history); 30 runs of 3 h in 30 days = 90 h -> 90 x 730 / 720 = 91.25
# h a month: (1.624 - 0.38) x 91.25 = 113.515 -> 113.52.
SPOT: dict[str, Any] = BASE | {
    "id": 10,
    "kind": "spot_candidate",
    "resource_id": "i-0ba7c4e5d00000002",
    "confidence": "medium",
    "monthly_savings": "113.52",
    "recommendation": (
        "Run i-0ba7c4e5d00000002 (g5.4xlarge) on spot: median run 3 h (under 6 h). Saves about "
        "113.52 USD/month at the p90 spot price; spot can be reclaimed with a 2-minute notice, "
        "so checkpoint your jobs."
    ),
    "evidence": {
        "reason": "short_runs",
        "workload_tag": "workload",
        "workload": None,
        "runs": 30,
        "median_run_hours": 3.0,
        "runs_from": "telemetry",
        "hours_run": 90,
        "hours_per_month": "91.2",
        "instance_type": "g5.4xlarge",
        "on_demand_hourly": "1.624",
        "on_demand_source": "aws-ondemand-prices (2026-07-20)",
        "spot_hourly": "0.38",
        "spot_basis": "p90 of 10 spot prices in the last 30 days",
        "spot_source": "aws-spot-price-history",
        "interruption_notice": "2-minute",
        "interruption_risk": (
            "spot capacity can be reclaimed with a 2-minute notice; checkpoint your jobs so a "
            "reclaimed instance resumes instead of starting over"
        ),
    },
}
# cold_storage (analytics/storage_tiering.py), the demo's imagenet prefix: 1200 GB x (0.023 -
# 0.00099) = 26.412 gross; 1,281,167 objects x 0.05 / 1000 = 64.06 once, over 12 months 5.34:
# 26.412 - 64.05835 / 12 = 21.0738 -> 21.07 a month.
COLD: dict[str, Any] = BASE | {
    "id": 11,
    "kind": "cold_storage",
    "resource_id": "s3://acme-ml-datasets/imagenet/raw/",
    "owner": None,
    "monthly_savings": "21.07",
    "confidence": "medium",
    "recommendation": (
        "Move s3://acme-ml-datasets/imagenet/raw/ (1200 GB, not modified for 400 days) from "
        "STANDARD to DEEP_ARCHIVE: saves about 21.07 USD/month after transition requests."
    ),
    "evidence": {
        "bucket": "acme-ml-datasets",
        "prefix": "imagenet/raw/",
        "storage_class": "STANDARD",
        "bytes": 1288490188800,
        "objects": 1281167,
        "small_objects": 0,
        "movable_bytes": 1288490188800,
        "movable_objects": 1281167,
        "movable_gb": 1200.0,
        "idle_days": 400,
        "idle_basis": "modified",
        "last_accessed": None,
        "last_modified": "2023-08-28T00:00:00Z",
        "target_class": "DEEP_ARCHIVE",
        "gross_monthly_saving": "26.41",
        "transition_cost_one_time": "64.06",
        "retrieval_note": (
            "DEEP_ARCHIVE charges for reads and for deleting objects before 180 days; check "
            "nothing reads this prefix on a schedule before moving it"
        ),
    },
}


def _fields(message: dict[str, Any]) -> dict[str, str]:
    section = message["blocks"][1]
    assert len(section["fields"]) <= 10  # Slack's limit per section
    return dict(field["text"][1:].split("*\n", 1) for field in section["fields"])


def test_spend_anomaly_names_the_day_the_amount_against_the_baseline_the_excess_and_z() -> None:
    message = finding_message(ANOMALY, event="opened", dashboard_base_url=DASHBOARD)
    assert_golden("opened_spend_anomaly", message)
    assert message["blocks"][0]["text"]["text"] == (
        "Spend anomaly: Amazon EC2 cost $300.00 on 2024-09-30"
    )
    assert _fields(message) == {
        "Provider": "AWS",
        "Account": "`111122223333`",
        "Service": "Amazon EC2",
        "Day": "2024-09-30 (UTC)",
        "Spent vs usual": "$300.00 vs $110.00/day (baseline median)",
        "Excess": "+$190.00 · robust z 12.8",
    }
    assert message["text"] == (
        "Spend anomaly: Amazon EC2 (AWS account 111122223333) cost $300.00 on 2024-09-30, "
        "$190.00 above its usual $110.00/day (robust z 12.8). "
        "https://spendwatch.example.com/findings?id=7"
    )
    assert "$0.00" not in str(message)  # it claims no saving, and says none


def test_anomaly_on_a_flat_baseline_in_euros() -> None:
    flat = ANOMALY | {
        "currency": "EUR",
        "evidence": ANOMALY["evidence"]
        | {"currency": "EUR", "robust_z": None, "baseline_mad": "0.00", "amount": "1300.00"}
        | {"baseline_median": "1000.00", "excess_over_median": "300.00"},
    }
    fields = _fields(finding_message(flat, event="opened", dashboard_base_url=DASHBOARD))
    assert fields["Spent vs usual"] == "€1,300.00 vs €1,000.00/day (baseline median)"
    assert fields["Excess"] == "+€300.00 · robust z ∞ (flat baseline)"


@pytest.mark.parametrize(
    ("name", "finding", "headline", "expected"),
    [
        (
            "opened_unmonitored_gpu",
            UNMONITORED,
            "Unmonitored GPU: billed, but sends no GPU telemetry",
            {
                "GPUs": "1× NVIDIA A10G (g5.4xlarge)",
                "No GPU telemetry for": "24 h",
                "Hourly cost": "$1.624/h",
            },
        ),
        (
            "opened_gpu_rightsizing",
            RIGHTSIZING,
            "Oversized GPU instance wastes $16,089.43 a month",
            {
                "Now": "`a2-highgpu-8g` · 8× NVIDIA A100 40GB · $29.38708/h",
                "Recommended": "`a2-highgpu-2g` · 2× NVIDIA A100 40GB · $7.34677/h",
                "GPUs doing work": "2 of 8",
                "p95 utilization": "61.5%",
                "Peak GPU memory": "20 GiB per GPU",
            },
        ),
        (
            "opened_spot_candidate",
            SPOT,
            "Spot candidate wastes $113.52 a month",
            {
                "On-demand → spot": "$1.624/h → $0.38/h",
                "Why spot fits": "median run 3 h over 30 runs",
                "Interruption": "2-minute notice",
            },
        ),
        (
            "opened_cold_storage",
            COLD,
            "Data for a colder storage tier wastes $21.07 a month",
            {
                "Data to move": "1,200 GB in 1,281,167 objects",
                "Idle": "not modified for 400 days",
                "Move": "STANDARD → DEEP_ARCHIVE",
                "One-time move cost": "$64.06",
            },
        ),
    ],
)
def test_each_kind_shows_its_own_evidence(
    name: str, finding: dict[str, Any], headline: str, expected: dict[str, str]
) -> None:
    message = finding_message(finding, event="opened", dashboard_base_url=DASHBOARD)
    assert_golden(name, message)
    assert message["blocks"][0]["text"]["text"] == headline
    fields = _fields(message)
    assert {label: fields.get(label) for label in expected} == expected
    assert ("Monthly saving" in fields) is (finding["kind"] != "unmonitored_gpu")


def test_caveats_reach_the_reader_before_the_button() -> None:
    spot = finding_message(SPOT, event="opened", dashboard_base_url=DASHBOARD)
    assert spot["blocks"][3]["elements"][0]["text"].startswith(
        ":warning: spot capacity can be reclaimed with a 2-minute notice"
    )
    assert spot["blocks"][4]["type"] == "actions"
    cold = finding_message(COLD, event="opened", dashboard_base_url=DASHBOARD)
    assert "DEEP_ARCHIVE charges for reads" in cold["blocks"][3]["elements"][0]["text"]


def test_unmonitored_gpu_resolves_when_telemetry_arrives() -> None:
    message = resolved_message(UNMONITORED, dashboard_base_url=DASHBOARD)
    assert message["text"] == (
        "Resolved: i-0feedc0ffee000001 now sends GPU telemetry. "
        "https://spendwatch.example.com/findings?id=8"
    )


def test_digest_with_savings_anomalies_and_unmonitored_gpus() -> None:
    second = ANOMALY | {
        "id": 12,
        "resource_id": "AWS/111122223333/Amazon S3",
        "evidence": ANOMALY["evidence"]
        | {"amount": "180.00", "baseline_median": "60.00", "excess_over_median": "120.00"},
    }
    items = [IDLE, COLD, second, ANOMALY, UNMONITORED]
    message = digest_message(items, day=dt.date(2024, 9, 30), top_n=5, dashboard_base_url=DASHBOARD)
    # savings 1185.52 + 21.07 = 1206.59; anomalies ranked by excess: EC2 190 before S3 120.
    assert message["text"] == (
        "spendwatch digest 2024-09-30: 2 findings, $1,206.59 a month; 2 spend anomalies; "
        "1 unmonitored GPU instance"
    )
    lines = [
        b["text"]["text"] if b["type"] == "section" else b["elements"][0]["text"]
        for b in message["blocks"][1:]
    ]
    assert lines[2] == "*Spend anomalies* (a day well above its usual spend)"
    assert lines[3].startswith(
        "*+$190.00* on 2024-09-30 · `AWS/111122223333/Amazon EC2` · $300.00 vs usual $110.00/day"
    )
    assert lines[4].startswith("*+$120.00* on 2024-09-30 · `AWS/111122223333/Amazon S3`")
    assert "`i-0feedc0ffee000001`" in lines[5]
    assert_golden("digest_mixed", message)


def test_a_digest_of_one_anomaly_claims_no_savings() -> None:
    message = digest_message(
        [ANOMALY], day=dt.date(2024, 9, 30), top_n=5, dashboard_base_url=DASHBOARD
    )
    assert message["text"] == "spendwatch digest 2024-09-30: 1 spend anomaly"


def test_real_rule_evidence_from_the_demo_renders_every_kind_field(
    tmp_path: Path, shared_data: Path
) -> None:
    """Guards against evidence keys drifting away from what the messages read."""
    summary = build_demo(tmp_path / "demo", shared_data=shared_data, host_count=4, days=2, seed=7)
    engine = make_engine(summary.database_url)
    try:
        rows = list_findings(engine)
    finally:
        engine.dispose()
    expected = {
        "idle_gpu": {"Idle since", "Cost so far", "GPUs", "Hourly cost"},
        "cold_storage": {"Data to move", "Idle", "Move", "One-time move cost"},
    }
    seen = set()
    for row in rows:
        snapshot = {key: row[key] for key in (*BASE, "id", "kind", "resource_id", "evidence")}
        snapshot |= {"recommendation": row["recommendation"], "monthly_savings": "1"}
        message = finding_message(snapshot, event="opened", dashboard_base_url=DASHBOARD)
        missing = expected.get(row["kind"], set()) - set(_fields(message))
        assert not missing, f"{row['kind']} {row['resource_id']}: no {missing}"
        seen.add(row["kind"])
    assert seen >= set(expected)
