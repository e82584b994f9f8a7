"""S3 storage inventory against moto in server mode, through ordinary boto3 clients and
AWS_ENDPOINT_URL, into SQLite and PostgreSQL.

moto stamps every object LastModified = now and never writes inventory reports, so ages are
tested through the inventory-report path: the test writes the report files itself, in AWS's
layout (manifest.json + gzipped CSV data files), with the LastModifiedDate values it wants.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from typing import Any

import boto3
import pytest
from sqlalchemy.engine import Engine

from collectors.base import run_collector
from collectors.registry import build_collector
from collectors.s3_storage import (
    S3StorageCollector,
    inventory_bucket,
    prefix_of,
    transition_rules,
)
from spendwatch.config import Settings
from warehouse.errors import InputError, SourceError
from warehouse.load_storage import storage_rows
from warehouse.runs import last_runs

KIB = 1024
MIB = 1024 * KIB
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
ACCOUNT = "123456789012"  # moto's account
REPORT_AT = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
SCHEMA = "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded"


@pytest.fixture
def s3(aws_env: str) -> Any:
    return boto3.client("s3", region_name="us-east-1")


def _put(s3: Any, bucket: str, key: str, size: int, storage_class: str = "STANDARD") -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size, StorageClass=storage_class)


def _ml_bucket(s3: Any) -> None:
    """Objects whose roll-up is worked out by hand in the test below."""
    s3.create_bucket(
        Bucket="ml-data", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    s3.put_bucket_tagging(
        Bucket="ml-data", Tagging={"TagSet": [{"Key": "owner", "Value": "alice"}]}
    )
    _put(s3, "ml-data", "datasets/imagenet/train/a.bin", 300 * KIB)
    _put(s3, "ml-data", "datasets/imagenet/train/b.bin", 1 * MIB)
    _put(s3, "ml-data", "datasets/imagenet/val/c.bin", 100 * KIB)  # small
    _put(s3, "ml-data", "datasets/readme.txt", 10)  # only one folder deep: small
    _put(s3, "ml-data", "checkpoints/run1/step1.pt", 2 * MIB, "GLACIER")
    _put(s3, "ml-data", "checkpoints/run1/step2.pt", 128 * KIB, "GLACIER")  # exactly 128 KiB
    _put(s3, "ml-data", "checkpoints/run1/notes.txt", 128 * KIB - 1)  # one byte under: small
    _put(s3, "ml-data", "logs/2024/app.log", 5000)  # under the lifecycle rule below
    _put(s3, "ml-data", "tiered/x.bin", 500_000, "INTELLIGENT_TIERING")
    _put(s3, "ml-data", "root.txt", 42)
    transition = [{"Days": 30, "StorageClass": "GLACIER"}]
    s3.put_bucket_lifecycle_configuration(
        Bucket="ml-data",
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "logs-to-glacier",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "logs/"},
                    "Transitions": transition,
                },
                {  # disabled: does not manage datasets/
                    "ID": "off",
                    "Status": "Disabled",
                    "Filter": {"Prefix": "datasets/"},
                    "Transitions": transition,
                },
                {  # expiry only: deletes, never moves, so checkpoints/ is not managed
                    "ID": "expire",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "checkpoints/"},
                    "Expiration": {"Days": 365},
                },
            ]
        },
    )


def _summary(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["prefix"], r["storage_class"], r["bytes"], r["objects"], r["small_objects"])
        for r in rows
    ]


def _rows(engine: Engine, bucket: str) -> list[dict[str, Any]]:
    """The bucket's rows without their surrogate ids (a replaced snapshot gets new ones)."""
    with engine.connect() as connection:
        rows = storage_rows(connection, bucket=bucket)
    return [{name: value for name, value in row.items() if name != "id"} for row in rows]


def test_listing_rolls_objects_up_per_prefix_and_class(engine: Engine, s3: Any) -> None:
    _ml_bucket(s3)
    collector = S3StorageCollector(s3, buckets=["ml-data"], prefix_depth=2, page_size=3)
    result = collector.collect(engine, since=NOW - dt.timedelta(hours=1), until=NOW)
    assert (result.rows, result.details["objects"]) == (7, 10)  # 10 objects over 4 pages
    assert result.details["sources"] == {"ml-data": "list_objects_v2"}
    rows = _rows(engine, "ml-data")
    assert _summary(rows) == [
        ("", "STANDARD", 42, 1, 1),
        ("checkpoints/run1/", "GLACIER", 2 * MIB + 128 * KIB, 2, 0),
        ("checkpoints/run1/", "STANDARD", 128 * KIB - 1, 1, 1),
        ("datasets/", "STANDARD", 10, 1, 1),
        ("datasets/imagenet/", "STANDARD", (300 + 1024 + 100) * KIB, 3, 1),
        ("logs/2024/", "STANDARD", 5000, 1, 1),
        ("tiered/", "INTELLIGENT_TIERING", 500_000, 1, 0),
    ]
    managed = {r["prefix"] for r in rows if r["lifecycle_managed"]}
    assert managed == {"logs/2024/", "tiered/"}
    for row in rows:
        assert (row["provider"], row["region"], row["account_id"]) == ("aws", "eu-west-1", None)
        assert row["tags"] == {"owner": "alice"}
        assert row["snapshot_at"] == NOW
        assert row["last_accessed"] is None  # S3 cannot say without access logs
        # moto stamps objects with the real clock: newest object, aware UTC, just now
        assert row["last_modified"].tzinfo is not None
        assert abs(row["last_modified"] - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_recollecting_the_same_moment_replaces_and_a_later_one_adds_history(
    engine: Engine, s3: Any
) -> None:
    _ml_bucket(s3)
    collector = S3StorageCollector(s3, buckets=["ml-data"], prefix_depth=1)
    collector.collect(engine, since=NOW, until=NOW + dt.timedelta(hours=1))
    first = _rows(engine, "ml-data")
    collector.collect(engine, since=NOW, until=NOW + dt.timedelta(hours=1))
    assert _rows(engine, "ml-data") == first  # replaced, not duplicated
    prefixes = ["", "checkpoints/", "checkpoints/", "datasets/", "logs/", "tiered/"]
    assert [r["prefix"] for r in first] == prefixes

    s3.delete_object(Bucket="ml-data", Key="root.txt")
    collector.collect(engine, since=NOW, until=NOW + dt.timedelta(hours=1))
    again = _rows(engine, "ml-data")
    assert "" not in {r["prefix"] for r in again}  # the vanished prefix left that snapshot
    collector.collect(engine, since=NOW, until=NOW + dt.timedelta(hours=2))
    snapshots = [r["snapshot_at"] for r in _rows(engine, "ml-data")]
    assert sorted(set(snapshots)) == [NOW + dt.timedelta(hours=1), NOW + dt.timedelta(hours=2)]


def _gzip_csv(rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return gzip.compress(text.getvalue().encode())


def _deliver_report(
    s3: Any, *, at: dt.datetime, files: list[list[list[str]]], base: str = "reports/archive/daily"
) -> str:
    """Write one report the way S3 Inventory delivers it; returns the manifest key."""
    entries = []
    for number, rows in enumerate(files):
        key = f"{base}/data/{at:%Y%m%d}-{number}.csv.gz"
        body = _gzip_csv(rows)
        s3.put_object(Bucket="inventory-dest", Key=key, Body=body)
        entries.append({"key": key, "size": len(body), "MD5checksum": "0" * 32})
    manifest = {
        "sourceBucket": "archive",
        "destinationBucket": "arn:aws:s3:::inventory-dest",
        "version": "2016-11-30",
        "creationTimestamp": str(int(at.timestamp() * 1000)),
        "fileFormat": "CSV",
        "fileSchema": SCHEMA,
        "files": entries,
    }
    manifest_key = f"{base}/{at:%Y-%m-%dT%H-%MZ}/manifest.json"
    s3.put_object(Bucket="inventory-dest", Key=manifest_key, Body=json.dumps(manifest).encode())
    return manifest_key


def _line(key: str, size: int, age_days: int, storage_class: str = "STANDARD") -> list[str]:
    modified = REPORT_AT - dt.timedelta(days=age_days)
    stamp = modified.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return ["archive", key, str(size), stamp, "etag", storage_class, "false"]


def _archive_with_inventory(s3: Any, *, fields: list[str] | None = None, fmt: str = "CSV") -> None:
    s3.create_bucket(Bucket="archive")
    s3.create_bucket(Bucket="inventory-dest")
    s3.put_bucket_inventory_configuration(
        Bucket="archive",
        Id="daily",
        InventoryConfiguration={
            "Id": "daily",
            "IsEnabled": True,
            "IncludedObjectVersions": "Current",
            "Destination": {
                "S3BucketDestination": {
                    "Bucket": "arn:aws:s3:::inventory-dest",
                    "Format": fmt,
                    "Prefix": "reports",
                }
            },
            "Schedule": {"Frequency": "Daily"},
            "OptionalFields": fields or ["Size", "LastModifiedDate", "ETag", "StorageClass"],
        },
    )
    _put(s3, "archive", "live/only-in-the-bucket.bin", 7)  # a report never lists this


def test_the_newest_inventory_report_gives_ages_and_no_listing(engine: Engine, s3: Any) -> None:
    _archive_with_inventory(s3)
    _deliver_report(  # last week's report: superseded
        s3, at=REPORT_AT - dt.timedelta(days=7), files=[[_line("old/x.bin", 1, 1)]]
    )
    manifest_key = _deliver_report(
        s3,
        at=REPORT_AT,
        files=[
            [
                _line("datasets/raw/2024/a.bin", 4 * MIB, 400),
                _line("datasets/raw/2025/b.bin", 6 * MIB, 95),
                _line("datasets/my%20set/c.bin", 200 * KIB, 200),  # keys are URL-encoded
            ],
            [
                _line("checkpoints/run7/s1.pt", 3 * MIB, 29, "GLACIER_IR"),
                _line("checkpoints/run7/s2.pt", 1 * MIB, 45, "GLACIER_IR"),
                _line("checkpoints/run7/meta.json", 2 * KIB, 5),
            ],
        ],
    )
    s3.put_object(
        Bucket="inventory-dest", Key="reports/archive/daily/hive/dt=x/symlink.txt", Body=b""
    )

    collector = S3StorageCollector(
        s3, buckets=["archive"], sts=boto3.client("sts", region_name="us-east-1")
    )
    result = collector.collect(engine, since=NOW - dt.timedelta(hours=1), until=NOW)
    assert result.details == {
        "buckets": 1,
        "objects": 6,
        "sources": {"archive": f"inventory:s3://inventory-dest/{manifest_key}"},
    }
    rows = _rows(engine, "archive")
    assert _summary(rows) == [
        ("checkpoints/run7/", "GLACIER_IR", 4 * MIB, 2, 0),
        ("checkpoints/run7/", "STANDARD", 2 * KIB, 1, 1),
        ("datasets/my set/", "STANDARD", 200 * KIB, 1, 0),
        ("datasets/raw/", "STANDARD", 10 * MIB, 2, 0),
    ]
    newest = {(r["prefix"], r["storage_class"]): r["last_modified"] for r in rows}
    days = dt.timedelta(days=1)
    assert newest == {
        ("checkpoints/run7/", "GLACIER_IR"): REPORT_AT - 29 * days,
        ("checkpoints/run7/", "STANDARD"): REPORT_AT - 5 * days,
        ("datasets/my set/", "STANDARD"): REPORT_AT - 200 * days,
        ("datasets/raw/", "STANDARD"): REPORT_AT - 95 * days,  # the newest of 400 and 95
    }
    assert {r["snapshot_at"] for r in rows} == {REPORT_AT}  # the report's time, not the run's
    assert {r["account_id"] for r in rows} == {ACCOUNT}
    assert {r["region"] for r in rows} == {"us-east-1"}
    assert not any(r["lifecycle_managed"] for r in rows)

    # The same report again (tomorrow's run before tomorrow's report): nothing changes.
    collector.collect(engine, since=NOW, until=NOW + dt.timedelta(days=1))
    assert _rows(engine, "archive") == rows


@pytest.mark.parametrize(
    ("fields", "fmt"),
    [
        (["Size", "LastModifiedDate"], "CSV"),  # no StorageClass: cannot be rolled up
        (["Size", "LastModifiedDate", "StorageClass"], "Parquet"),  # only CSV is read
    ],
)
def test_an_unusable_inventory_configuration_falls_back_to_listing(
    s3: Any, fields: list[str], fmt: str
) -> None:
    _archive_with_inventory(s3, fields=fields, fmt=fmt)
    _deliver_report(s3, at=REPORT_AT, files=[[_line("datasets/raw/a.bin", 1, 400)]])
    found = inventory_bucket(s3, "archive", now=NOW, depth=2)
    assert found.source == "list_objects_v2"
    assert [(u.prefix, u.bytes) for u in found.snapshot.prefixes] == [("live/", 7)]


def test_a_configured_inventory_without_a_report_yet_falls_back_to_listing(s3: Any) -> None:
    _archive_with_inventory(s3)  # the first report takes up to 48 hours to arrive
    found = inventory_bucket(s3, "archive", now=NOW, depth=2)
    assert (found.source, found.objects, found.snapshot.snapshot_at) == ("list_objects_v2", 1, NOW)


def test_a_damaged_report_is_a_one_line_source_error(s3: Any) -> None:
    _archive_with_inventory(s3)
    _deliver_report(s3, at=REPORT_AT, files=[[["archive", "datasets/a.bin", "12"]]])
    with pytest.raises(SourceError) as failure:
        inventory_bucket(s3, "archive", now=NOW, depth=2)
    assert str(failure.value) == (
        "inventory report s3://inventory-dest/reports/archive/daily/data/20261120-0.csv.gz, "
        "line 1: 3 values for the 7 columns of its manifest; the report is damaged"
    )


def test_the_registered_collector_reads_buckets_and_depth_from_settings(
    engine: Engine, s3: Any
) -> None:
    _ml_bucket(s3)
    s3.create_bucket(Bucket="scratch")
    _put(s3, "scratch", "a/b/c/d.bin", 200 * KIB)
    settings = Settings.model_validate({"aws": {"storage": True, "prefix_depth": 3}})
    outcome = run_collector(engine, build_collector("s3_storage", settings), now=NOW)
    # every bucket: ml-data has 8 groups at depth 3 (imagenet/train/ and imagenet/val/), scratch 1
    assert (outcome.status, outcome.rows) == ("succeeded", 9)
    details = last_runs(engine)["s3_storage"].details
    assert details is not None
    assert (details["buckets"], details["objects"]) == (2, 11)
    assert [r["prefix"] for r in _rows(engine, "scratch")] == ["a/b/c/"]
    assert {r["account_id"] for r in _rows(engine, "ml-data")} == {ACCOUNT}  # from STS


def test_a_missing_bucket_fails_the_run_with_one_line_and_writes_nothing(
    engine: Engine, s3: Any
) -> None:
    _ml_bucket(s3)
    settings = Settings.model_validate({"aws": {"storage_buckets": ["ml-data", "no-such-bucket"]}})
    outcome = run_collector(engine, build_collector("s3_storage", settings), now=NOW)
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith(
        "s3_storage (s3://no-such-bucket): An error occurred (NoSuchBucket)"
    )
    assert outcome.error.endswith("and AWS_ENDPOINT_URL")
    assert "\n" not in outcome.error
    assert _rows(engine, "ml-data") == []  # the good bucket is not half-loaded either


def test_the_collector_is_off_until_asked_for() -> None:
    with pytest.raises(InputError, match="storage_buckets"):
        build_collector("s3_storage", Settings())


@pytest.mark.parametrize(
    ("key", "depth", "prefix"),
    [
        ("datasets/imagenet/train/0001.jpg", 2, "datasets/imagenet/"),
        ("datasets/imagenet/train/0001.jpg", 1, "datasets/"),
        ("datasets/imagenet/train/0001.jpg", 0, ""),
        ("datasets/readme.md", 2, "datasets/"),
        ("readme.md", 2, ""),
        ("logs//double-slash.log", 2, "logs//"),
    ],
)
def test_prefix_of(key: str, depth: int, prefix: str) -> None:
    assert prefix_of(key, depth=depth) == prefix


def test_an_all_versions_report_counts_current_objects_only(engine: Engine, s3: Any) -> None:
    _archive_with_inventory(s3)
    stamp = (REPORT_AT - dt.timedelta(days=45)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    schema = (
        "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, StorageClass"
    )
    rows = [
        ["archive", "logs/a.log", "v2", "true", "false", "300000", stamp, "STANDARD"],
        ["archive", "logs/a.log", "v1", "false", "false", "999999", stamp, "STANDARD"],
        ["archive", "logs/b.log", "v3", "true", "true", "", stamp, ""],  # deleted
    ]
    manifest_key = _deliver_report(s3, at=REPORT_AT, files=[rows])
    manifest = json.loads(s3.get_object(Bucket="inventory-dest", Key=manifest_key)["Body"].read())
    manifest["fileSchema"] = schema
    s3.put_object(Bucket="inventory-dest", Key=manifest_key, Body=json.dumps(manifest).encode())
    found = inventory_bucket(s3, "archive", now=NOW, depth=1)
    assert [(u.prefix, u.bytes, u.objects) for u in found.snapshot.prefixes] == [
        ("logs/", 300_000, 1)
    ]


@pytest.mark.parametrize(
    ("rule", "key", "size", "covered"),
    [
        ({"Filter": {"Prefix": "logs/"}}, "logs/a", 1, True),
        ({"Filter": {"Prefix": "logs/"}}, "data/a", 1, False),
        ({"Filter": {}}, "anything", 1, True),  # an empty filter is the whole bucket
        ({"Prefix": "old/"}, "old/a", 1, True),  # the legacy top-level Prefix
        # Size filters (moto drops them from its answer, so they are checked on AWS's shape).
        ({"Filter": {"And": {"Prefix": "x/", "ObjectSizeGreaterThan": 100}}}, "x/a", 100, False),
        ({"Filter": {"And": {"Prefix": "x/", "ObjectSizeGreaterThan": 100}}}, "x/a", 101, True),
        ({"Filter": {"ObjectSizeLessThan": 10}}, "x/a", 10, False),
        # An inventory has no object tags: a tag rule counts for its whole prefix.
        ({"Filter": {"Tag": {"Key": "tier", "Value": "cold"}}}, "x/a", 1, True),
    ],
)
def test_which_objects_a_transition_rule_covers(
    rule: dict[str, Any], key: str, size: int, covered: bool
) -> None:
    full = {"Status": "Enabled", "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}], **rule}
    [parsed] = transition_rules([full])
    assert parsed.covers(key, size) is covered
    assert transition_rules([{**full, "Status": "Disabled"}]) == []
    assert transition_rules([{**full, "Transitions": []}]) == []
