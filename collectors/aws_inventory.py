"""AWS EC2 inventory: every instance with its GPU shape, lifecycle, tags and owner.

``describe_instances`` (paginated) lists the fleet; ``describe_instance_types`` gives each
type's GpuInfo, which is also upserted into ``instance_types``. The EC2 client is built by the
caller (boto3's default chain, ``AWS_ENDPOINT_URL`` honoured) and passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import Engine

from collectors.base import CollectResult
from warehouse.errors import SourceError
from warehouse.load_inventory import (
    MIB,
    InstanceTypeRecord,
    ResourceRecord,
    load_inventory,
)

if TYPE_CHECKING:
    from spendwatch.config import Settings

SOURCE = "aws_inventory"
SHAPE_SOURCE = "aws-describe-instance-types"
# DescribeInstanceTypes accepts at most 100 names per request.
_TYPES_PER_REQUEST = 100


def shape_from_type_info(info: Mapping[str, Any], *, source: str) -> InstanceTypeRecord:
    """One DescribeInstanceTypes item as a shape. Types without GpuInfo have gpu_count 0."""
    gpus = (info.get("GpuInfo") or {}).get("Gpus") or []
    first = gpus[0] if gpus else {}
    gpu_mib = (first.get("MemoryInfo") or {}).get("SizeInMiB")
    memory_mib = (info.get("MemoryInfo") or {}).get("SizeInMiB")
    return InstanceTypeRecord(
        provider="aws",
        instance_type=info["InstanceType"],
        gpu_count=sum(int(gpu.get("Count") or 0) for gpu in gpus),
        gpu_model=first.get("Name"),
        gpu_memory_bytes=int(gpu_mib) * MIB if gpu_mib is not None else None,
        vcpus=(info.get("VCpuInfo") or {}).get("DefaultVCpus"),
        memory_bytes=int(memory_mib) * MIB if memory_mib is not None else None,
        source=source,
    )


def lifecycle_of(instance: Mapping[str, Any]) -> str:
    """spot for spot instances; reserved when it runs in a capacity reservation; else on_demand.

    Reserved Instances and Savings Plans are billing constructs invisible on the instance;
    billing data, not inventory, shows them.
    """
    if instance.get("InstanceLifecycle") == "spot":
        return "spot"
    if instance.get("CapacityReservationId"):
        return "reserved"
    return "on_demand"


def fetch_instance_types(ec2: Any, names: Iterable[str]) -> dict[str, InstanceTypeRecord]:
    wanted = sorted(set(names))
    shapes: dict[str, InstanceTypeRecord] = {}
    paginator = ec2.get_paginator("describe_instance_types")
    for start in range(0, len(wanted), _TYPES_PER_REQUEST):
        batch = wanted[start : start + _TYPES_PER_REQUEST]
        for page in paginator.paginate(InstanceTypes=batch):
            for info in page.get("InstanceTypes", []):
                shape = shape_from_type_info(info, source=SHAPE_SOURCE)
                shapes[shape.instance_type] = shape
    return shapes


def _instances(
    ec2: Any, *, page_size: int | None
) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    config = {"PageSize": page_size} if page_size else {}
    for page in ec2.get_paginator("describe_instances").paginate(PaginationConfig=config):
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                yield reservation.get("OwnerId"), instance


def fetch_inventory(
    ec2: Any,
    *,
    owner_tag: str = "owner",
    team_tag: str = "team",
    page_size: int | None = None,
) -> tuple[list[ResourceRecord], list[InstanceTypeRecord]]:
    """All instances in the client's region, and the shapes of the types they use."""
    region = ec2.meta.region_name
    try:
        listed = list(_instances(ec2, page_size=page_size))
        shapes = fetch_instance_types(ec2, (instance["InstanceType"] for _, instance in listed))
    except (BotoCoreError, ClientError) as exc:
        raise SourceError(
            f"{SOURCE} ({region}): {_one_line(exc)}; check the AWS credentials, the region "
            "and AWS_ENDPOINT_URL"
        ) from None
    records = []
    for account_id, instance in listed:
        tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags") or []}
        shape = shapes.get(instance["InstanceType"])
        launched = instance.get("LaunchTime")
        records.append(
            ResourceRecord(
                provider="aws",
                resource_id=instance["InstanceId"],
                account_id=account_id,
                region=region,
                name=tags.get("Name"),
                instance_type=instance["InstanceType"],
                gpu_count=shape.gpu_count if shape else None,
                gpu_model=shape.gpu_model if shape else None,
                gpu_memory_bytes=shape.gpu_memory_bytes if shape else None,
                lifecycle=lifecycle_of(instance),
                tags=tags,
                owner=tags.get(owner_tag),
                team=tags.get(team_tag),
                launched_at=launched.astimezone(dt.UTC) if launched else None,
                state=(instance.get("State") or {}).get("Name"),
            )
        )
    return records, list(shapes.values())


def collect_inventory(
    engine: Engine,
    ec2: Any,
    *,
    now: dt.datetime,
    owner_tag: str = "owner",
    team_tag: str = "team",
) -> int:
    """Fetch, then upsert shapes and resources in one transaction. Returns the instance count."""
    records, shapes = fetch_inventory(ec2, owner_tag=owner_tag, team_tag=team_tag)
    return load_inventory(engine, shapes=shapes, resource_records=records, updated_at=now).resources


class AwsInventoryCollector:
    """``spendwatch collect aws_inventory``: the fleet as it is now (the window is not used)."""

    name = SOURCE
    loads = "resources"
    natural_key: tuple[str, ...] = ("provider", "resource_id")
    lookback = dt.timedelta(0)
    initial_window = dt.timedelta(hours=1)

    def __init__(self, ec2: Any, *, owner_tag: str = "owner", team_tag: str = "team") -> None:
        self.ec2 = ec2
        self.owner_tag = owner_tag
        self.team_tag = team_tag

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsInventoryCollector:
        import boto3  # boto3's default credential chain; AWS_ENDPOINT_URL is honoured

        ec2 = boto3.client("ec2", region_name=settings.aws.region)
        return cls(ec2, owner_tag=settings.tags.owner, team_tag=settings.tags.team)

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        records, shapes = fetch_inventory(
            self.ec2, owner_tag=self.owner_tag, team_tag=self.team_tag
        )
        counts = load_inventory(engine, shapes=shapes, resource_records=records, updated_at=until)
        gpus = sum(1 for record in records if record.gpu_count)
        return CollectResult(
            rows=counts.resources,
            watermark=until,
            details={"instances": len(records), "gpu_instances": gpus, "types": counts.shapes},
        )


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
