"""Cost Explorer against moto in server mode (results injected through moto's API, a NextPageToken
request taking the next queued page) and, for the operations moto lacks, botocore's Stubber, which
checks requests and answers against the real service model. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest
import requests
import sqlalchemy as sa
from botocore.stub import Stubber
from sqlalchemy.engine import Engine

from collectors.aws_cost_explorer import EC2_COMPUTE, LOAD_SOURCE, AwsCostExplorerCollector
from collectors.aws_exports import LOAD_SOURCE as EXPORT_SOURCE
from collectors.base import run_collector
from spendwatch.commands.collect import run_collectors
from spendwatch.config import AwsExport, AwsSettings, Settings
from tests.collectors.test_aws_exports import BUCKET, LEGACY_EXPORT, put_legacy
from warehouse.load import load_focus_batches
from warehouse.runs import last_runs
from warehouse.schema import cost_line_items as T
from warehouse.types import decimal_sum

CALLER = "123456789012"  # moto's account: the billing account of Cost Explorer rows
A, B = "111111111111", "222222222222"
S3 = "Amazon Simple Storage Service"
UTC = dt.UTC


def day(date: str, *groups: dict[str, Any], estimated: bool = False) -> dict[str, Any]:
    start = dt.date.fromisoformat(date)
    end = (start + dt.timedelta(days=1)).isoformat()
    return {
        "TimePeriod": {"Start": date, "End": end},
        "Total": {},
        "Groups": list(groups),
        "Estimated": estimated,
    }


def group(first: str, second: str, unblended: str, amortized: str) -> dict[str, Any]:
    return {
        "Keys": [first, second],
        "Metrics": {
            "UnblendedCost": {"Amount": unblended, "Unit": "USD"},
            "AmortizedCost": {"Amount": amortized, "Unit": "USD"},
            "UsageQuantity": {"Amount": "3.5", "Unit": "N/A"},
        },
    }


@pytest.fixture
def aws(aws_env: str) -> str:
    return aws_env


def queue_pages(endpoint: str, *pages: dict[str, Any]) -> None:
    response = requests.post(
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
        json={"results": list(pages)},
        timeout=10,
    )
    assert response.status_code == 201


def collector(ce: Any = None, **options: Any) -> AwsCostExplorerCollector:
    return AwsCostExplorerCollector(
        ce or boto3.client("ce", region_name="us-east-1"),
        boto3.client("sts", region_name="us-east-1"),
        **options,
    )


def rows(engine: Engine) -> list[tuple[Any, ...]]:
    query = sa.select(
        T.c.sub_account_id,
        T.c.service_name,
        T.c.charge_period_start,
        T.c.resource_id,
        T.c.billed_cost,
        T.c.effective_cost,
    ).where(T.c.x_source == LOAD_SOURCE)
    with engine.connect() as connection:
        return sorted((tuple(row) for row in connection.execute(query)), key=str)


def total(engine: Engine, column: str = "billed_cost") -> Decimal:
    query = sa.select(decimal_sum(T.c[column])).where(T.c.x_source == LOAD_SOURCE)
    with engine.connect() as connection:
        return Decimal(connection.execute(query).scalar_one() or 0)


def at(date: str) -> dt.datetime:
    return dt.datetime.fromisoformat(date).replace(tzinfo=UTC)


def test_pages_are_followed_and_a_rerun_leaves_the_warehouse_unchanged(
    engine: Engine, aws: str
) -> None:
    page_one = {
        "ResultsByTime": [
            day("2026-11-18", group(S3, A, "1.25", "1.00"), group(EC2_COMPUTE, B, "10", "7.5")),
            day("2026-11-19", group(S3, A, "1.50", "1.20")),
        ],
        "NextPageToken": "page-2",
    }
    page_two = {"ResultsByTime": [day("2026-11-20", group(S3, B, "0.25", "0.25"), estimated=True)]}
    queue_pages(aws, page_one, page_two)
    since, until = at("2026-11-18"), at("2026-11-21")

    first = run_collector(engine, collector(), now=until, since=since, until=until)
    assert (first.status, first.rows) == ("succeeded", 4), first.error
    assert total(engine) == Decimal("13.00")  # 1.25 + 10 + 1.50 + 0.25
    assert total(engine, "effective_cost") == Decimal("9.95")  # 1.00 + 7.5 + 1.20 + 0.25
    details = last_runs(engine)["aws_cost_explorer"].details or {}
    assert (details["ce_requests"], details["ce_cost_usd"]) == (2, "0.02")
    assert first.watermark == until
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.select(T).where(T.c.x_source == LOAD_SOURCE, T.c.sub_account_id == B)
            )
            .mappings()
            .first()
        )
    assert row is not None
    assert (row["billing_account_id"], row["provider_name"]) == (CALLER, "AWS")
    assert row["billing_period_start"] == at("2026-11-01")
    assert row["charge_period_end"] - row["charge_period_start"] == dt.timedelta(days=1)

    before = rows(engine)
    again = run_collector(engine, collector(), now=until, since=since, until=until)
    assert (again.status, again.rows) == ("succeeded", 4)
    assert rows(engine) == before  # the window's rows replaced by identical ones: no duplicates


def test_a_one_day_incremental_run_makes_one_request(engine: Engine, aws: str) -> None:
    queue_pages(
        aws,
        {"ResultsByTime": [day("2026-11-19", group(S3, A, "2", "2"))]},
        {"ResultsByTime": [day("2026-11-20", group(S3, A, "3", "3"))]},
    )
    ce = collector(lookback=dt.timedelta(0))
    run_collector(engine, ce, now=at("2026-11-20"), since=at("2026-11-19"), until=at("2026-11-20"))
    # The next scheduled run: from the watermark (2026-11-20 00:00) to 08:00 the same day.
    outcome = run_collector(engine, ce, now=at("2026-11-20T08:00"))
    assert (outcome.status, outcome.since, outcome.until) == (
        "succeeded",
        at("2026-11-20"),
        at("2026-11-20T08:00"),
    )
    assert (last_runs(engine)["aws_cost_explorer"].details or {})["ce_requests"] == 1
    assert total(engine) == Decimal(5)
    assert outcome.watermark == at("2026-11-20")  # today is still moving: re-read next time


def test_a_restated_window_replaces_only_its_own_days(engine: Engine, aws: str) -> None:
    queue_pages(
        aws,
        {
            "ResultsByTime": [
                day("2026-11-17", group(S3, A, "1", "1")),
                day("2026-11-18", group(S3, A, "2", "2"), group(S3, B, "4", "4")),
            ]
        },
        # AWS restates the 18th: A changes and B's charge disappears.
        {"ResultsByTime": [day("2026-11-18", group(S3, A, "2.75", "2.5"))]},
    )
    ce = collector()
    run_collector(engine, ce, now=at("2026-11-19"), since=at("2026-11-17"), until=at("2026-11-19"))
    assert total(engine) == Decimal(7)
    run_collector(engine, ce, now=at("2026-11-19"), since=at("2026-11-18"), until=at("2026-11-19"))
    assert [(r[0], r[2].day, r[4]) for r in rows(engine)] == [
        (A, 17, Decimal(1)),
        (A, 18, Decimal("2.75")),
    ]


def test_accounts_an_export_covers_are_left_to_the_export(engine: Engine, aws: str) -> None:
    november = at("2026-11-01")
    exported = pa.RecordBatch.from_pydict(
        {
            "billed_cost": pa.array(["100"]),
            "billing_period_start": pa.array([november], pa.timestamp("us", tz="UTC")),
            "charge_period_start": pa.array([november], pa.timestamp("us", tz="UTC")),
            "billing_account_id": pa.array(["999999999999"]),
            "sub_account_id": pa.array([A]),
            "provider_name": pa.array(["AWS"]),
            "billing_currency": pa.array(["USD"]),
        }
    )
    load_focus_batches(engine, [exported], source=EXPORT_SOURCE)
    queue_pages(
        aws,
        {"ResultsByTime": [day("2026-11-18", group(S3, A, "5", "5"), group(S3, B, "6", "6"))]},
    )
    outcome = run_collector(
        engine, collector(), now=at("2026-11-19"), since=at("2026-11-18"), until=at("2026-11-19")
    )
    assert outcome.rows == 1
    assert [r[0] for r in rows(engine)] == [B]
    details = last_runs(engine)["aws_cost_explorer"].details or {}
    assert details["accounts_left_to_exports"] == [A]


def _ce_request(start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Granularity": "DAILY",
        "Metrics": ["AmortizedCost", "UnblendedCost", "UsageQuantity"],
        **extra,
    }


def test_resource_rows_replace_the_service_row_of_ec2(engine: Engine, aws: str) -> None:
    ce = boto3.client("ce", region_name="us-east-1")
    by_service = [
        {"Type": "DIMENSION", "Key": "SERVICE"},
        {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
    ]
    by_resource = [
        {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
        {"Type": "DIMENSION", "Key": "RESOURCE_ID"},
    ]
    ec2_only = {"Dimensions": {"Key": "SERVICE", "Values": [EC2_COMPUTE]}}
    with Stubber(ce) as stub:
        stub.add_response(
            "get_cost_and_usage",
            {
                "ResultsByTime": [
                    day("2026-11-18", group(EC2_COMPUTE, A, "9", "8"), group(S3, A, "1", "1"))
                ]
            },
            _ce_request("2026-11-18", "2026-11-19", GroupBy=by_service),
        )
        stub.add_response(
            "get_cost_and_usage_with_resources",
            {
                "ResultsByTime": [
                    day(
                        "2026-11-18",
                        group(A, "i-0gpu", "7", "6"),
                        group(A, "NoResourceId", "2", "2"),
                    )
                ]
            },
            _ce_request("2026-11-18", "2026-11-19", GroupBy=by_resource, Filter=ec2_only),
        )
        outcome = run_collector(
            engine,
            collector(ce, resources=True),
            now=at("2026-11-19"),
            since=at("2026-11-18"),
            until=at("2026-11-19"),
        )
        stub.assert_no_pending_responses()
    assert outcome.rows == 3, outcome.error
    assert total(engine) == Decimal(10)  # EC2 9 split 7 + 2, plus S3 1: nothing counted twice
    assert {(r[3], r[4]) for r in rows(engine) if r[1] == EC2_COMPUTE} == {
        (None, Decimal(2)),
        ("i-0gpu", Decimal(7)),
    }
    assert (last_runs(engine)["aws_cost_explorer"].details or {})["ce_requests"] == 2


@pytest.mark.parametrize(
    ("code", "reason"),
    [("ThrottlingException", "throttled"), ("AccessDeniedException", "unauthorized")],
)
def test_a_throttled_or_unauthorized_source_fails_in_one_line(
    engine: Engine, aws: str, code: str, reason: str
) -> None:
    ce = boto3.client("ce", region_name="us-east-1")
    with Stubber(ce) as stub:
        stub.add_client_error("get_cost_and_usage", service_error_code=code, http_status_code=400)
        outcome = run_collector(
            engine,
            collector(ce),
            now=at("2026-11-19"),
            since=at("2026-11-18"),
            until=at("2026-11-19"),
        )
    assert outcome.status == "failed"
    assert outcome.error is not None and "\n" not in outcome.error
    assert outcome.error.startswith(
        f"aws_cost_explorer (2026-11-18 .. 2026-11-19): {reason} ({code})"
    )
    assert total(engine) == 0


def test_cost_explorer_down_fails_while_the_exports_still_load(
    engine: Engine, aws: str, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    put_legacy(s3, shared_data)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", f"http://127.0.0.1:{closed}")
    export = AwsExport(bucket=BUCKET, prefix="cur", name=LEGACY_EXPORT.name, format="cur-legacy")
    settings = Settings(aws=AwsSettings(exports=[export], cost_explorer=True, max_attempts=1))
    results, failures = run_collectors(
        engine,
        settings,
        ["aws_exports", "aws_cost_explorer"],
        now=at("2026-11-21"),
        since=at("2023-01-01"),
        until=at("2026-11-21"),
    )
    assert [(r["source"], r["status"]) for r in results] == [
        ("aws_exports", "succeeded"),
        ("aws_cost_explorer", "failed"),
    ]
    assert len(failures) == 1 and "could not connect" in failures[0]
    query = sa.select(decimal_sum(T.c.billed_cost)).where(T.c.x_source == EXPORT_SOURCE)
    with engine.connect() as connection:
        assert connection.execute(query).scalar_one() == Decimal("1.68230869740")
