"""AWS billing exports against moto in server mode (ordinary boto3 clients, AWS_ENDPOINT_URL), on
SQLite and PostgreSQL: the real legacy CUR and FOCUS samples laid out as AWS delivers them, and
the hand-made CUR 2.0 Parquet file of test_cur_to_focus."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.aws_exports import LOAD_SOURCE, AwsExportsCollector, ExportSpec
from collectors.base import run_collector
from tests.collectors.test_cur_to_focus import LEGACY, handmade_cur2
from warehouse.runs import last_runs
from warehouse.schema import cost_line_items as T
from warehouse.types import decimal_sum

BUCKET = "acme-billing"
NOW = dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC)
SINCE = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)  # reach back to the samples' months
LEGACY_EXPORT = ExportSpec(bucket=BUCKET, prefix="cur", name="legacy", format="cur-legacy")
FOCUS_EXPORT = ExportSpec(bucket=BUCKET, prefix="exports", name="focus-daily", format="focus")
CUR2_EXPORT = ExportSpec(bucket=BUCKET, prefix="exports", name="cur2", format="cur2")


@pytest.fixture
def s3(aws_env: str) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def put_legacy(s3: Any, shared_data: Path) -> None:
    """AWS's legacy layout: root/YYYYMMDD-YYYYMMDD/{assembly}/file + the period's manifest."""
    root = LEGACY_EXPORT.root + "20231101-20231201/"
    key = root + "c0ffee-assembly/legacy-00001.csv.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress((shared_data / LEGACY).read_bytes()))
    manifest = {
        "assemblyId": "c0ffee-assembly",
        "billingPeriod": {"start": "20231101T000000.000Z", "end": "20231201T000000.000Z"},
        "bucket": BUCKET,
        "reportKeys": [key],
    }
    s3.put_object(Bucket=BUCKET, Key=root + "legacy-Manifest.json", Body=json.dumps(manifest))


def put_data_export(s3: Any, export: ExportSpec, period: str, files: dict[str, bytes]) -> None:
    """Data Exports layout: data/BILLING_PERIOD=YYYY-MM/... + metadata/.../{name}-Manifest.json."""
    keys = []
    for name, body in files.items():
        key = f"{export.root}data/BILLING_PERIOD={period}/{name}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        keys.append(f"s3://{BUCKET}/{key}")
    manifest = {"exportName": export.name, "billingPeriod": {"start": period}, "dataFiles": keys}
    key = f"{export.root}metadata/BILLING_PERIOD={period}/{export.name}-Manifest.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(manifest))


def put_cur2(s3: Any, tmp_path: Path, *, period: str, usage_cost: str) -> None:
    path = handmade_cur2(tmp_path / f"cur2-{period}.parquet", usage_cost=usage_cost, period=period)
    put_data_export(s3, CUR2_EXPORT, period, {"cur2-00001.snappy.parquet": path.read_bytes()})


def billed(engine: Engine, *where: Any, column: str = "billed_cost") -> Decimal:
    query = sa.select(decimal_sum(T.c[column])).where(T.c.x_source == LOAD_SOURCE, *where)
    with engine.connect() as connection:
        return Decimal(connection.execute(query).scalar_one() or 0)


def snapshot(engine: Engine) -> list[tuple[Any, ...]]:
    query = sa.select(T.c.id, T.c.x_load_id, T.c.billed_cost).order_by(T.c.id)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def collect(engine: Engine, s3: Any, *exports: ExportSpec, now: dt.datetime = NOW) -> Any:
    collector = AwsExportsCollector(s3, exports)
    return run_collector(engine, collector, now=now, since=SINCE, until=now)


def test_real_samples_load_with_exact_sums_and_a_rerun_changes_nothing(
    engine: Engine, s3: Any, shared_data: Path
) -> None:
    put_legacy(s3, shared_data)
    focus = (shared_data / "focus/sample-data/focus_sample.csv").read_bytes()
    put_data_export(s3, FOCUS_EXPORT, "2024-09", {"focus-daily-00001.csv.gz": gzip.compress(focus)})

    outcome = collect(engine, s3, LEGACY_EXPORT, FOCUS_EXPORT)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.rows == 1281 + 1000
    legacy = T.c.billing_account_id == "123412340534"
    assert billed(engine, legacy) == Decimal("1.68230869740")
    assert billed(engine, legacy, column="list_cost") == Decimal("3.35617269490")
    assert billed(engine, ~legacy) == Decimal("20.52022672899")
    assert billed(engine, T.c.provider_name == "AWS", ~legacy) == Decimal("18.00663861840")
    details = last_runs(engine)["aws_exports"].details or {}
    assert details["exports"][LEGACY_EXPORT.label]["loaded"] == {"2023-11": 1281}
    # 2 listings + per export: 1 manifest GET and 1 data file GET.
    assert details["s3_requests"] == 6

    before = snapshot(engine)
    again = collect(engine, s3, LEGACY_EXPORT, FOCUS_EXPORT)
    assert (again.status, again.rows) == ("succeeded", 0)
    assert snapshot(engine) == before  # same rows, same load ids: nothing was re-read
    details = last_runs(engine)["aws_exports"].details or {}
    assert details["exports"][FOCUS_EXPORT.label] == {"loaded": {}, "unchanged": ["2024-09"]}
    assert details["s3_requests"] == 2  # the two listings, nothing downloaded


def test_a_restated_month_replaces_that_account_and_month_only(
    engine: Engine, s3: Any, shared_data: Path, tmp_path: Path
) -> None:
    put_legacy(s3, shared_data)
    put_cur2(s3, tmp_path, period="2026-10", usage_cost="2.50")
    put_cur2(s3, tmp_path, period="2026-11", usage_cost="4.00")
    first = collect(engine, s3, LEGACY_EXPORT, CUR2_EXPORT)
    assert (first.status, first.rows) == ("succeeded", 1281 + 6 + 6)
    october = T.c.billing_period_start == dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    november = T.c.billing_period_start == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    # Six hand-made lines: usage + 1 - 1 + 0 + 3 + net tax 0.18
    assert billed(engine, october) == Decimal("5.68")
    assert billed(engine, november) == Decimal("7.18")

    put_cur2(s3, tmp_path, period="2026-11", usage_cost="10.00")  # AWS re-delivers November
    second = collect(engine, s3, LEGACY_EXPORT, CUR2_EXPORT)
    assert (second.status, second.rows) == ("succeeded", 6)
    assert billed(engine, november) == Decimal("13.18")
    assert billed(engine, october) == Decimal("5.68")
    assert billed(engine, T.c.billing_account_id == "123412340534") == Decimal("1.68230869740")
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).where(november)).scalar_one()
    assert count == 6
    details = last_runs(engine)["aws_exports"].details or {}
    assert details["exports"][CUR2_EXPORT.label] == {
        "loaded": {"2026-11": 6},
        "unchanged": ["2026-10"],
    }


def test_a_normal_run_rechecks_only_the_current_and_previous_month(
    engine: Engine, s3: Any, tmp_path: Path
) -> None:
    put_cur2(s3, tmp_path, period="2026-09", usage_cost="1.00")
    collector = AwsExportsCollector(s3, [CUR2_EXPORT])
    assert run_collector(engine, collector, now=NOW, since=SINCE, until=NOW).rows == 6
    put_cur2(s3, tmp_path, period="2026-09", usage_cost="9.00")  # an old month changes
    put_cur2(s3, tmp_path, period="2026-11", usage_cost="4.00")
    later = NOW + dt.timedelta(hours=6)
    scheduled = run_collector(engine, collector, now=later)  # since = watermark - lookback
    assert (scheduled.status, scheduled.rows) == ("succeeded", 6)
    september = T.c.billing_period_start == dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    assert billed(engine, september) == Decimal("4.18")  # 1 + 1 - 1 + 0 + 3 + 0.18: left alone


def test_a_broken_export_fails_the_run_in_one_line_while_the_others_load(
    engine: Engine, s3: Any, shared_data: Path
) -> None:
    put_legacy(s3, shared_data)
    missing = ExportSpec(bucket="no-such-bucket", prefix="x", name="focus", format="focus")
    outcome = collect(engine, s3, missing, LEGACY_EXPORT)
    assert outcome.status == "failed"
    assert outcome.error is not None and "\n" not in outcome.error
    assert outcome.error.startswith("aws_exports: s3://no-such-bucket/x/focus/: listing failed")
    assert "NoSuchBucket" in outcome.error
    assert billed(engine) == Decimal("1.68230869740")  # the good export still loaded


def test_a_manifest_naming_a_missing_file_loads_nothing_for_that_month(
    engine: Engine, s3: Any
) -> None:
    put_data_export(s3, FOCUS_EXPORT, "2026-11", {})
    key = f"{FOCUS_EXPORT.root}metadata/BILLING_PERIOD=2026-11/focus-daily-Manifest.json"
    manifest = {
        "dataFiles": [f"s3://{BUCKET}/{FOCUS_EXPORT.root}data/BILLING_PERIOD=2026-11/a.csv"]
    }
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(manifest))
    outcome = collect(engine, s3, FOCUS_EXPORT)
    assert outcome.status == "failed"
    assert outcome.error is not None and "delivery may still be in progress" in outcome.error
    assert billed(engine) == 0
