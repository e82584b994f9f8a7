"""AWS inventory against moto in server mode, through ordinary boto3 clients and AWS_ENDPOINT_URL.

moto answers DescribeInstanceTypes with the real GpuInfo (p4d: 8x A100 40 GiB; g5.xlarge: 1x A10G).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.aws_inventory import collect_inventory, fetch_inventory, lifecycle_of
from collectors.base import run_collector
from collectors.price_snapshot import load_snapshot
from collectors.registry import build_collector
from spendwatch.config import Settings
from warehouse.errors import InputError, SourceError
from warehouse.queries.catalog import gpu_shape, priced_gpu_resources
from warehouse.runs import last_runs
from warehouse.schema import resources

MIB = 1024**2
GIB = 1024**3
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
ACCOUNT = "123456789012"  # moto's account
AMI = "ami-12345678"  # moto runs any image id; the inventory never looks at it


@pytest.fixture
def ec2(aws_env: str) -> Any:
    return boto3.client("ec2", region_name="us-east-1")


def _run(ec2: Any, instance_type: str, *, tags: dict[str, str] | None = None, **extra: Any) -> str:
    spec: dict[str, Any] = {}
    if tags:
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        spec["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tag_list}]
    answer = ec2.run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1, InstanceType=instance_type, **spec, **extra
    )
    return str(answer["Instances"][0]["InstanceId"])


def _fleet(ec2: Any) -> dict[str, str]:
    return {
        "p4d": _run(
            ec2,
            "p4d.24xlarge",
            tags={"Name": "trainer-1", "owner": "alice", "cost-team": "nlp"},
        ),
        "g5": _run(ec2, "g5.xlarge", tags={"owner": "bob"}),
        "g5_spot": _run(ec2, "g5.xlarge", InstanceMarketOptions={"MarketType": "spot"}),
        "cpu": _run(ec2, "t3.micro"),
    }


def _rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(sa.select(resources)).mappings().all()
    return {row["resource_id"]: dict(row) for row in found}


def test_inventory_has_gpu_shape_lifecycle_owner_and_team(engine: Engine, ec2: Any) -> None:
    ids = _fleet(ec2)
    loaded = collect_inventory(engine, ec2, now=NOW, owner_tag="owner", team_tag="cost-team")
    assert loaded == 4
    rows = _rows(engine)
    p4d = rows[ids["p4d"]]
    assert (p4d["instance_type"], p4d["gpu_count"], p4d["gpu_model"]) == ("p4d.24xlarge", 8, "A100")
    assert p4d["gpu_memory_bytes"] == 40 * GIB
    assert (p4d["lifecycle"], p4d["owner"], p4d["team"], p4d["name"]) == (
        "on_demand",
        "alice",
        "nlp",
        "trainer-1",
    )
    assert p4d["tags"] == {"Name": "trainer-1", "owner": "alice", "cost-team": "nlp"}
    assert (p4d["provider"], p4d["account_id"], p4d["region"], p4d["state"]) == (
        "aws",
        ACCOUNT,
        "us-east-1",
        "running",
    )
    assert p4d["launched_at"].tzinfo is not None
    assert p4d["updated_at"] == NOW

    spot = rows[ids["g5_spot"]]
    assert (spot["lifecycle"], spot["gpu_count"], spot["gpu_model"]) == ("spot", 1, "A10G")
    assert spot["gpu_memory_bytes"] == 22888 * MIB
    assert (spot["owner"], spot["team"]) == (None, None)
    assert rows[ids["g5"]]["lifecycle"] == "on_demand"
    cpu = rows[ids["cpu"]]
    assert (cpu["gpu_count"], cpu["gpu_model"], cpu["gpu_memory_bytes"]) == (0, None, None)

    shape = gpu_shape(engine, provider="aws", instance_type="g5.xlarge")
    assert shape is not None
    assert (shape.gpu_count, shape.vcpus, shape.memory_bytes, shape.source) == (
        1,
        4,
        16 * GIB,
        "aws-describe-instance-types",
    )


def test_rerunning_updates_in_place(engine: Engine, ec2: Any) -> None:
    ids = _fleet(ec2)
    collect_inventory(engine, ec2, now=NOW)
    ec2.terminate_instances(InstanceIds=[ids["g5"]])
    later = NOW + dt.timedelta(hours=1)
    collect_inventory(engine, ec2, now=later)
    rows = _rows(engine)
    assert len(rows) == 4
    assert (rows[ids["g5"]]["state"], rows[ids["g5"]]["updated_at"]) == ("terminated", later)


def test_pages_of_describe_instances_are_all_read(ec2: Any) -> None:
    ids = _fleet(ec2)
    records, shapes = fetch_inventory(ec2, page_size=1)  # four pages of one
    assert sorted(r.resource_id for r in records) == sorted(ids.values())
    assert sorted(s.instance_type for s in shapes) == ["g5.xlarge", "p4d.24xlarge", "t3.micro"]


def test_every_gpu_instance_has_shape_and_an_hourly_price_with_source_and_date(
    engine: Engine, ec2: Any
) -> None:
    _fleet(ec2)
    load_snapshot(engine)  # offline: the snapshot is the price source
    collect_inventory(engine, ec2, now=NOW)
    priced = priced_gpu_resources(engine, provider="aws")
    assert len(priced) == 3  # the t3.micro has no GPU
    for resource in priced:
        assert resource.gpu_count and resource.gpu_count > 0, resource
        assert resource.gpu_model and resource.gpu_memory_bytes, resource
        quote = resource.on_demand
        assert quote is not None, f"{resource.instance_type} has no on-demand price"
        assert (quote.unit, quote.currency, quote.source) == (
            "hour",
            "USD",
            "snapshot-aws-2026-07-20",
        )
        assert quote.effective_at == dt.datetime(2026, 7, 20, 13, 44, 30, tzinfo=dt.UTC)
    by_type = {r.instance_type: r.on_demand.price for r in priced if r.on_demand}
    assert {k: str(v) for k, v in by_type.items()} == {
        "p4d.24xlarge": "21.957642",
        "g5.xlarge": "1.006000",
    }


def test_the_registered_collector_uses_the_tag_keys_from_settings(engine: Engine, ec2: Any) -> None:
    ids = _fleet(ec2)
    settings = Settings.model_validate(
        {"aws": {"inventory": True}, "tags": {"owner": "owner", "team": "cost-team"}}
    )
    outcome = run_collector(engine, build_collector("aws_inventory", settings), now=NOW)
    assert (outcome.status, outcome.rows) == ("succeeded", 4)
    assert last_runs(engine)["aws_inventory"].details == {
        "instances": 4,
        "gpu_instances": 3,
        "types": 3,
    }
    assert _rows(engine)[ids["p4d"]]["team"] == "nlp"


def test_the_collector_is_off_until_asked_for() -> None:
    with pytest.raises(InputError, match="SPENDWATCH_AWS__INVENTORY=true"):
        build_collector("aws_inventory", Settings())


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        ({"InstanceLifecycle": "spot"}, "spot"),
        # moto has no capacity reservations; this is the DescribeInstances field AWS documents.
        ({"CapacityReservationId": "cr-0123456789abcdef0"}, "reserved"),
        ({"InstanceLifecycle": "scheduled"}, "on_demand"),
        ({}, "on_demand"),
    ],
)
def test_lifecycle(instance: dict[str, str], expected: str) -> None:
    assert lifecycle_of(instance) == expected


def test_unreachable_endpoint_is_one_line_source_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-must-not-leak")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    client = boto3.client("ec2", region_name="eu-west-1")
    with pytest.raises(SourceError) as err:
        fetch_inventory(client)
    message = str(err.value)
    assert message.startswith("aws_inventory (eu-west-1): Could not connect")
    assert "AWS_ENDPOINT_URL" in message
    assert "\n" not in message and "secret-must-not-leak" not in message
