"""The CloudWatch collector against moto in server mode, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy.engine import Engine

from collectors.base import run_collector
from collectors.cloudwatch_gpu import MAX_QUERIES_PER_CALL, CloudWatchGpuCollector, fetch_points
from collectors.registry import build_collector
from spendwatch.config import AwsSettings, CloudWatchSettings, Settings
from tests.collectors.cloudwatch_agent_data import (
    MinuteSample,
    agent_dimensions,
    cloudwatch_client,
    publish,
)
from warehouse.errors import SourceError
from warehouse.load_gpu import gpu_hourly_rows

MIB = 1024 * 1024
H0 = dt.datetime(2026, 11, 18, 0, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def cloudwatch(aws_env: str) -> Any:
    return cloudwatch_client()


def count_calls(client: Any, operation: str) -> list[int]:
    """Counts requests the client really sends (botocore's own event), not a mock."""
    calls: list[int] = []
    client.meta.events.register(f"before-send.cloudwatch.{operation}", lambda **_: calls.append(1))
    return calls


def fleet(cloudwatch: Any) -> None:
    # A: an A10G on EC2, idle for 45 minutes then busy for 15; then half of hour 1 at 100 %.
    a = agent_dimensions(index="0", name="NVIDIA A10G", host="ip-10-0-0-1", instance_id="i-0a10g")
    samples = [
        MinuteSample(H0 + m * MINUTE, 0 if m < 45 else 80, 1000 if m < 45 else 5000, 23028,
                     60.0 if m < 45 else 200.0)
        for m in range(60)
    ]  # fmt: skip
    samples += [MinuteSample(H0 + HOUR + m * MINUTE, 100, 20000, 23028, 250.0) for m in range(30)]
    samples.append(MinuteSample(H0 + 3 * HOUR, 100, 20000, 23028, 250.0))  # outside the window
    publish(cloudwatch, a, samples)
    # B: an on-prem H100 under MIG: nvidia-smi reports no utilization, so none is published.
    b = agent_dimensions(index="1", name="NVIDIA H100 80GB HBM3", host="gpu-onprem")
    publish(
        cloudwatch, b, [MinuteSample(H0 + m * MINUTE, None, 59, 81559, 71.15) for m in range(60)]
    )
    # An aggregation_dimensions roll-up ([["InstanceId"]]): no index, not one GPU: skipped.
    cloudwatch.put_metric_data(
        Namespace="CWAgent",
        MetricData=[
            {
                "MetricName": "nvidia_smi_utilization_gpu",
                "Dimensions": [{"Name": "InstanceId", "Value": "i-0a10g"}],
                "Timestamp": H0,
                "Value": 40.0,
            }
        ],
    )


def test_hourly_rows_from_the_agent_metrics(engine: Engine, cloudwatch: Any) -> None:
    fleet(cloudwatch)
    collector = CloudWatchGpuCollector(cloudwatch, region="us-east-1")
    result = collector.collect(engine, since=H0, until=H0 + 3 * HOUR)
    assert result.watermark == H0 + 3 * HOUR
    assert result.details["skipped_series"] == 1
    # A: 4 metrics (3 + 3 + 1 + 2 statistics); B: no utilization (3 + 1 + 2).
    assert result.details["queries"] == 9 + 6
    assert result.details["get_metric_data_calls"] == 1
    with engine.connect() as connection:
        rows = gpu_hourly_rows(connection, source="cloudwatch")
    assert [(r["resource_id"], r["gpu_id"], r["hour"]) for r in rows] == [
        ("gpu-onprem", "1", H0),
        ("i-0a10g", "0", H0),
        ("i-0a10g", "0", H0 + HOUR),
    ]
    mig, a0, a1 = rows
    # A, 00:00: util 45 x 0 + 15 x 80 = 1200 / 60 = 20 %; memory (45 x 1000 + 15 x 5000) / 60
    # = 2000 MiB; power (45 x 60 + 15 x 200) / 60 = 95 W.
    assert (a0["util_avg"], a0["util_max"], a0["sample_count"]) == (20.0, 80.0, 60)
    assert a0["mem_used_avg_bytes"] == 2000 * MIB
    assert a0["mem_used_max_bytes"] == 5000 * MIB
    assert a0["mem_total_bytes"] == 23028 * MIB
    assert a0["power_avg_watts"] == pytest.approx(95.0)
    assert (a0["gpu_model"], a0["provider"]) == ("NVIDIA A10G", "aws")
    # A, 01:00: the agent stopped at 01:30: 30 samples, not 60.
    assert (a1["util_avg"], a1["util_max"], a1["sample_count"]) == (100.0, 100.0, 30)
    assert a1["mem_used_avg_bytes"] == 20000 * MIB
    # B: MIG, no utilization series: NULL, and the samples are counted from memory.
    assert (mig["util_avg"], mig["util_max"], mig["sample_count"]) == (None, None, 60)
    assert (mig["mem_used_avg_bytes"], mig["mem_total_bytes"]) == (59 * MIB, 81559 * MIB)
    assert mig["provider"] is None and mig["power_avg_watts"] == pytest.approx(71.15)
    # Collecting the same window again changes nothing.
    collector.collect(engine, since=H0, until=H0 + 3 * HOUR)
    with engine.connect() as connection:
        assert gpu_hourly_rows(connection, source="cloudwatch") == rows


def test_five_minute_periods_combine_into_the_same_hours(engine: Engine, cloudwatch: Any) -> None:
    fleet(cloudwatch)
    collector = CloudWatchGpuCollector(cloudwatch, period_seconds=300)
    collector.collect(engine, since=H0, until=H0 + 3 * HOUR)
    with engine.connect() as connection:
        mig, a0, a1 = gpu_hourly_rows(connection, source="cloudwatch")
    assert (a0["util_avg"], a0["util_max"], a0["sample_count"]) == (pytest.approx(20.0), 80.0, 60)
    assert a0["mem_used_avg_bytes"] == 2000 * MIB
    assert a0["power_avg_watts"] == pytest.approx(95.0)
    assert (a1["sample_count"], mig["sample_count"], mig["util_avg"]) == (30, 60, None)


def test_queries_are_batched_500_per_call_and_list_metrics_pages(
    engine: Engine, cloudwatch: Any
) -> None:
    """501 GPUs: ListMetrics pages at 500, and 3 statistics each make 1503 queries: 4 calls."""
    gpus = 501
    data = [
        {
            "MetricName": "nvidia_smi_utilization_gpu",
            "Dimensions": agent_dimensions(index="0", name="Tesla T4", host=f"h{n:03d}"),
            "Timestamp": H0 + 10 * MINUTE,
            "Value": float(n % 101),
        }
        for n in range(gpus)
    ]
    cloudwatch.put_metric_data(Namespace="CWAgent", MetricData=data)
    list_calls = count_calls(cloudwatch, "ListMetrics")
    data_calls = count_calls(cloudwatch, "GetMetricData")
    result = CloudWatchGpuCollector(cloudwatch).collect(engine, since=H0, until=H0 + HOUR)
    assert result.details["queries"] == 3 * gpus
    expected_calls = math.ceil(3 * gpus / MAX_QUERIES_PER_CALL)
    assert expected_calls == 4
    assert result.details["get_metric_data_calls"] == len(data_calls) == expected_calls
    assert len(list_calls) == 2 + 3  # utilization: 2 pages; the other three metrics: 1 each
    assert result.rows == gpus
    with engine.connect() as connection:
        rows = {r["resource_id"]: r for r in gpu_hourly_rows(connection, source="cloudwatch")}
    assert rows["h250"]["util_avg"] == 250 % 101 == 48
    assert rows["h500"]["sample_count"] == 1 and rows["h500"]["mem_used_avg_bytes"] is None


def test_registry_run_records_the_watermark(
    engine: Engine, cloudwatch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(cloudwatch)
    settings = Settings(
        cloudwatch=CloudWatchSettings(enabled=True), aws=AwsSettings(region="us-east-1")
    )
    collector = build_collector("cloudwatch", settings)
    now = H0 + 3 * HOUR + 10 * MINUTE
    outcome = run_collector(engine, collector, now=now, since=H0)
    assert (outcome.status, outcome.rows, outcome.watermark) == ("succeeded", 3, H0 + 3 * HOUR)


def test_unreachable_endpoint_is_one_line_source_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-never-shown")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    settings = Settings(cloudwatch=CloudWatchSettings(enabled=True))
    collector = build_collector("cloudwatch", settings)
    with pytest.raises(SourceError) as error:
        collector.collect(engine, since=H0, until=H0 + HOUR)
    message = str(error.value)
    assert message.startswith("cloudwatch (us-east-1, namespace CWAgent): ")
    assert "AWS_ENDPOINT_URL" in message and "\n" not in message
    assert "secret-never-shown" not in message


def test_period_must_divide_an_hour() -> None:
    with pytest.raises(Exception, match="period_seconds=700"):
        CloudWatchGpuCollector(object(), period_seconds=700)


def test_next_token_pages_are_followed() -> None:
    """moto never pages GetMetricData, so botocore's Stubber (checked against the real service
    model) plays a two-page answer: the second page's points must join the first's."""
    client = boto3.client(
        "cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    query = {
        "Id": "q0",
        "MetricStat": {
            "Metric": {"Namespace": "CWAgent", "MetricName": "nvidia_smi_utilization_gpu"},
            "Period": 3600,
            "Stat": "Average",
        },
        "ReturnData": True,
    }
    base = {
        "MetricDataQueries": [query],
        "StartTime": H0,
        "EndTime": H0 + 2 * HOUR,
        "ScanBy": "TimestampAscending",
    }
    page = {"Id": "q0", "StatusCode": "PartialData"}
    with Stubber(client) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [{**page, "Timestamps": [H0], "Values": [12.5]}],
                "NextToken": "t2",
            },
            base,
        )
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": [{**page, "Timestamps": [H0 + HOUR], "Values": [40.0]}]},
            {**base, "NextToken": "t2"},
        )
        points, calls = fetch_points(client, [query], start=H0, end=H0 + 2 * HOUR)
        stub.assert_no_pending_responses()
    assert calls == 2
    assert [(stamp.astimezone(dt.UTC), value) for stamp, value in points["q0"]] == [
        (H0, 12.5),
        (H0 + HOUR, 40.0),
    ]
