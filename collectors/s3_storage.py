"""S3 storage inventory: bytes, objects and ages per prefix and storage class, per bucket.

For each configured bucket (or every bucket ``list_buckets`` shows), objects are rolled up by
prefix (the key's first ``prefix_depth`` folders) and storage class into ``storage_inventory``,
which the ``cold_storage`` rule reads. Objects come from one of two places:

1. the newest **S3 Inventory report** of an enabled, unfiltered CSV inventory configuration
   with Size, LastModifiedDate and StorageClass (:mod:`collectors.s3_inventory_report`): no
   List requests, and the snapshot time is the report's;
2. else paginated ``list_objects_v2``: fine for small buckets, and the count listed is logged.

``lifecycle_managed`` marks prefix/class groups that S3 already moves: every object is under an
enabled lifecycle rule with a transition, or the class is INTELLIGENT_TIERING. S3 cannot tell
when an object was last read without access logs or Storage Lens, so ``last_accessed`` is NULL
and the rule falls back to ``last_modified`` at lower confidence.

The S3 client is built by the caller (boto3's default chain, ``AWS_ENDPOINT_URL`` honoured).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import Engine

from collectors.base import CollectResult
from collectors.s3_inventory_report import S3Object, latest_inventory_report
from warehouse.errors import SourceError
from warehouse.load_storage import PrefixUsage, StorageSnapshot, load_storage

if TYPE_CHECKING:
    from spendwatch.config import Settings

SOURCE = "s3_storage"
SMALL_OBJECT_BYTES = 128 << 10  # the colder tiers bill anything smaller as 128 KiB
INTELLIGENT_TIERING = "INTELLIGENT_TIERING"

log = logging.getLogger(__name__)


def prefix_of(key: str, *, depth: int) -> str:
    """The key's first ``depth`` folders with a trailing slash; "" for the bucket root."""
    folders = key.split("/")[:-1][:depth]
    return "".join(f"{folder}/" for folder in folders)


@dataclasses.dataclass(frozen=True, slots=True)
class TransitionRule:
    """The part of an enabled lifecycle rule with a transition that decides what it covers."""

    prefix: str = ""
    size_greater_than: int | None = None
    size_less_than: int | None = None

    def covers(self, key: str, size: int) -> bool:
        if not key.startswith(self.prefix):
            return False
        if self.size_greater_than is not None and size <= self.size_greater_than:
            return False
        return self.size_less_than is None or size < self.size_less_than


def transition_rules(rules: Iterable[Mapping[str, Any]]) -> list[TransitionRule]:
    """Enabled rules that transition current objects. A tag filter cannot be checked against an
    inventory (it has no tags), so such a rule counts for its whole prefix: a finding for data a
    rule already moves would be noise."""
    found = []
    for rule in rules:
        if rule.get("Status") != "Enabled" or not rule.get("Transitions"):
            continue
        where = rule.get("Filter") or {}
        where = where.get("And") or where
        found.append(
            TransitionRule(
                prefix=str(where.get("Prefix", rule.get("Prefix", "")) or ""),
                size_greater_than=where.get("ObjectSizeGreaterThan"),
                size_less_than=where.get("ObjectSizeLessThan"),
            )
        )
    return found


@dataclasses.dataclass(slots=True)
class _Tally:
    bytes: int = 0
    objects: int = 0
    small_objects: int = 0
    covered: int = 0
    last_modified: dt.datetime | None = None


def roll_up(
    objects: Iterable[S3Object],
    *,
    depth: int,
    rules: Iterable[TransitionRule] = (),
    small_object_bytes: int = SMALL_OBJECT_BYTES,
) -> tuple[PrefixUsage, ...]:
    """Objects -> one :class:`PrefixUsage` per (prefix, storage class), sorted."""
    rules = list(rules)
    tallies: dict[tuple[str, str], _Tally] = {}
    for item in objects:
        tally = tallies.setdefault((prefix_of(item.key, depth=depth), item.storage_class), _Tally())
        tally.bytes += item.size
        tally.objects += 1
        tally.small_objects += item.size < small_object_bytes
        tally.covered += any(rule.covers(item.key, item.size) for rule in rules)
        if tally.last_modified is None or item.last_modified > tally.last_modified:
            tally.last_modified = item.last_modified
    return tuple(
        PrefixUsage(
            prefix=prefix,
            storage_class=storage_class,
            bytes=tally.bytes,
            objects=tally.objects,
            small_objects=tally.small_objects,
            last_modified=tally.last_modified,
            last_accessed=None,
            lifecycle_managed=storage_class == INTELLIGENT_TIERING
            or tally.covered == tally.objects,
        )
        for (prefix, storage_class), tally in sorted(tallies.items())
    )


def listed_objects(s3: Any, bucket: str, *, page_size: int | None = None) -> Iterator[S3Object]:
    config = {"PageSize": page_size} if page_size else {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig=config)
    for page in pages:
        for item in page.get("Contents", []):
            yield S3Object(
                key=item["Key"],
                size=int(item["Size"]),
                last_modified=item["LastModified"].astimezone(dt.UTC),
                storage_class=item.get("StorageClass") or "STANDARD",
            )


@dataclasses.dataclass(frozen=True, slots=True)
class BucketInventory:
    snapshot: StorageSnapshot
    objects: int
    source: str  # "inventory:<manifest key>" or "list_objects_v2"


def inventory_bucket(
    s3: Any,
    bucket: str,
    *,
    now: dt.datetime,
    depth: int,
    account_id: str | None = None,
    page_size: int | None = None,
) -> BucketInventory:
    """One bucket's snapshot, from its newest inventory report, else by listing it."""
    try:
        region = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        tags = _bucket_tags(s3, bucket)
        rules = transition_rules(_lifecycle_rules(s3, bucket))
        report = latest_inventory_report(s3, bucket)
        if report is not None:
            objects, snapshot_at, source = report.objects(), report.created_at, report.where
        else:
            objects = listed_objects(s3, bucket, page_size=page_size)
            snapshot_at, source = now, "list_objects_v2"
        # Streamed: a report of millions of objects is never held in memory.
        usage = roll_up(objects, depth=depth, rules=rules)
    except (BotoCoreError, ClientError) as exc:
        raise SourceError(
            f"{SOURCE} (s3://{bucket}): {_one_line(exc)}; check that the bucket exists, the "
            "credentials may read it and its inventory reports, and AWS_ENDPOINT_URL"
        ) from None
    count = sum(group.objects for group in usage)
    if report is None:
        log.info("%s: listed %d objects in s3://%s", SOURCE, count, bucket)
    snapshot = StorageSnapshot(
        provider="aws",
        bucket=bucket,
        snapshot_at=snapshot_at,
        prefixes=usage,
        account_id=account_id,
        region=region,
        tags=tags,
    )
    return BucketInventory(snapshot=snapshot, objects=count, source=source)


def _bucket_tags(s3: Any, bucket: str) -> dict[str, str]:
    try:
        tag_set = s3.get_bucket_tagging(Bucket=bucket).get("TagSet", [])
    except ClientError as exc:
        if _code(exc) == "NoSuchTagSet":
            return {}
        raise
    return {tag["Key"]: tag["Value"] for tag in tag_set}


def _lifecycle_rules(s3: Any, bucket: str) -> list[Mapping[str, Any]]:
    try:
        return list(s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", []))
    except ClientError as exc:
        if _code(exc) == "NoSuchLifecycleConfiguration":
            return []
        raise


class S3StorageCollector:
    """``spendwatch collect s3_storage``: the buckets as they are now (the window is not used)."""

    name = SOURCE
    loads = "storage_inventory"
    natural_key: tuple[str, ...] = ("provider", "bucket", "prefix", "storage_class", "snapshot_at")
    lookback = dt.timedelta(0)
    initial_window = dt.timedelta(hours=1)

    def __init__(
        self,
        s3: Any,
        *,
        buckets: Iterable[str] = (),
        prefix_depth: int = 2,
        sts: Any = None,
        page_size: int | None = None,
    ) -> None:
        self.s3 = s3
        self.buckets = list(buckets)
        self.prefix_depth = prefix_depth
        self.sts = sts
        self.page_size = page_size

    @classmethod
    def from_settings(cls, settings: Settings) -> S3StorageCollector:
        import boto3  # boto3's default credential chain; AWS_ENDPOINT_URL is honoured

        region = settings.aws.region
        return cls(
            boto3.client("s3", region_name=region),
            buckets=settings.aws.storage_buckets,
            prefix_depth=settings.aws.prefix_depth,
            sts=boto3.client("sts", region_name=region),
        )

    def bucket_names(self) -> list[str]:
        if self.buckets:
            return self.buckets
        try:
            return sorted(bucket["Name"] for bucket in self.s3.list_buckets().get("Buckets", []))
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(
                f"{SOURCE}: cannot list buckets ({_one_line(exc)}); name them in "
                "[aws] storage_buckets or check the AWS credentials and AWS_ENDPOINT_URL"
            ) from None

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        account_id = self._account_id()
        inventories = [
            inventory_bucket(
                self.s3,
                bucket,
                now=until,
                depth=self.prefix_depth,
                account_id=account_id,
                page_size=self.page_size,
            )
            for bucket in self.bucket_names()
        ]
        rows = load_storage(engine, (inventory.snapshot for inventory in inventories))
        return CollectResult(
            rows=rows,
            watermark=until,
            details={
                "buckets": len(inventories),
                "objects": sum(inventory.objects for inventory in inventories),
                "sources": {inv.snapshot.bucket: inv.source for inv in inventories},
            },
        )

    def _account_id(self) -> str | None:
        if self.sts is None:
            return None
        try:
            return str(self.sts.get_caller_identity()["Account"])
        except (BotoCoreError, ClientError) as exc:
            # The account only labels rows; missing it must not stop the inventory.
            log.warning("%s: no account id from STS (%s)", SOURCE, _one_line(exc))
            return None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
