"""The storage snapshot loader: exact round trip, replace-per-snapshot idempotence, history kept,
and refusals that leave nothing written; on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warehouse.errors import InputError
from warehouse.load_storage import PrefixUsage, StorageSnapshot, load_storage, storage_rows
from warehouse.schema import storage_inventory

AT = dt.datetime(2026, 11, 21, 1, 0, tzinfo=dt.UTC)
TIB = 1 << 40


def _snapshot(at: dt.datetime = AT, bucket: str = "ml-data", **changes: Any) -> StorageSnapshot:
    base = StorageSnapshot(
        provider="aws",
        bucket=bucket,
        snapshot_at=at,
        account_id="123456789012",
        region="eu-west-1",
        tags={"owner": "alice", "team": "vision"},
        prefixes=(
            PrefixUsage(
                prefix="datasets/imagenet/",
                storage_class="STANDARD",
                bytes=3 * TIB + 7,  # past 32 bits: BIGINT on both dialects
                objects=1_281_167,
                small_objects=12,
                last_modified=dt.datetime(2025, 10, 17, 8, 30, 15, 123000, tzinfo=dt.UTC),
            ),
            PrefixUsage(
                prefix="logs/",
                storage_class="STANDARD",
                bytes=5000,
                objects=3,
                small_objects=3,
                last_modified=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
                lifecycle_managed=True,
            ),
            PrefixUsage(prefix="", storage_class="GLACIER", bytes=0, objects=0),
        ),
    )
    return dataclasses.replace(base, **changes)


def _rows(engine: Engine, **where: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return storage_rows(connection, **where)


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(sa.select(sa.func.count()).select_from(storage_inventory)) or 0
        )


def test_a_snapshot_round_trips_exactly(engine: Engine) -> None:
    assert load_storage(engine, [_snapshot()]) == 3
    rows = _rows(engine)
    assert [(r["prefix"], r["storage_class"]) for r in rows] == [
        ("", "GLACIER"),
        ("datasets/imagenet/", "STANDARD"),
        ("logs/", "STANDARD"),
    ]
    imagenet = rows[1]
    assert (imagenet["bytes"], imagenet["objects"], imagenet["small_objects"]) == (
        3_298_534_883_335,
        1_281_167,
        12,
    )
    assert imagenet["last_modified"] == dt.datetime(2025, 10, 17, 8, 30, 15, 123000, tzinfo=dt.UTC)
    assert imagenet["last_accessed"] is None
    assert imagenet["snapshot_at"] == AT and imagenet["snapshot_at"].tzinfo is not None
    assert (imagenet["provider"], imagenet["account_id"], imagenet["region"]) == (
        "aws",
        "123456789012",
        "eu-west-1",
    )
    assert imagenet["tags"] == {"owner": "alice", "team": "vision"}
    assert [r["lifecycle_managed"] for r in rows] == [False, False, True]


def test_reloading_a_snapshot_replaces_it_and_keeps_history_and_other_buckets(
    engine: Engine,
) -> None:
    week_before = AT - dt.timedelta(days=7)
    load_storage(
        engine,
        [_snapshot(), _snapshot(at=week_before), _snapshot(bucket="other", tags={})],
    )
    assert _count(engine) == 9
    assert load_storage(engine, [_snapshot()]) == 3  # the same report again: nothing changes
    assert _count(engine) == 9

    # A re-delivered report where logs/ is gone and imagenet grew: that snapshot is replaced.
    grown = dataclasses.replace(_snapshot().prefixes[0], bytes=4 * TIB, objects=1_300_000)
    load_storage(engine, [_snapshot(prefixes=(grown,))])
    latest = _rows(engine, bucket="ml-data")
    assert [(r["snapshot_at"], r["prefix"], r["bytes"]) for r in latest] == [
        (week_before, "", 0),
        (week_before, "datasets/imagenet/", 3 * TIB + 7),
        (week_before, "logs/", 5000),
        (AT, "datasets/imagenet/", 4 * TIB),
    ]
    other = _rows(engine, bucket="other")
    assert len(other) == 3 and other[0]["tags"] is None  # no tags are stored as NULL

    # A bucket found empty replaces its snapshot with nothing.
    assert load_storage(engine, [_snapshot(prefixes=())]) == 0
    assert [r["snapshot_at"] for r in _rows(engine, bucket="ml-data")] == [week_before] * 3


def test_many_prefixes_load_in_batches(engine: Engine) -> None:
    prefixes = tuple(
        PrefixUsage(prefix=f"runs/{n:05d}/", storage_class="STANDARD", bytes=n, objects=1)
        for n in range(2_500)
    )
    assert load_storage(engine, [_snapshot(prefixes=prefixes)]) == 2_500
    rows = _rows(engine)
    assert len(rows) == 2_500
    assert sum(int(r["bytes"]) for r in rows) == 2_499 * 2_500 // 2


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            {"provider": "s3"},
            "storage snapshot s3:ml-data: unknown provider; use one of aws, gcp, azure",
        ),
        (
            {"snapshot_at": dt.datetime(2026, 11, 21)},
            "storage snapshot aws:ml-data: snapshot_at is naive; give it in UTC",
        ),
        (
            {
                "prefixes": (
                    PrefixUsage("a/", "STANDARD", 1, 1),
                    PrefixUsage("a/", "STANDARD", 2, 1),
                )
            },
            "storage snapshot aws:ml-data: prefix 'a/' appears twice in STANDARD; "
            "fix the collector",
        ),
        (
            {"prefixes": (PrefixUsage("a/", "STANDARD", 10, 1, small_objects=2),)},
            "storage snapshot aws:ml-data, prefix 'a/': more small objects than objects; "
            "fix the collector",
        ),
        (
            {"prefixes": (PrefixUsage("a/", "STANDARD", -1, 1),)},
            "storage snapshot aws:ml-data, prefix 'a/': negative bytes or object counts; "
            "fix the collector",
        ),
        (
            {
                "prefixes": (
                    PrefixUsage("a/", "STANDARD", 1, 1, last_modified=dt.datetime(2026, 1, 1)),
                )
            },
            "storage snapshot aws:ml-data, prefix 'a/': last_modified is naive; give it in UTC",
        ),
    ],
)
def test_bad_snapshots_are_refused_and_nothing_is_written(
    engine: Engine, bad: dict[str, Any], message: str
) -> None:
    good = _snapshot(bucket="good")
    with pytest.raises(InputError) as failure:
        load_storage(engine, [good, _snapshot(**bad)])
    assert str(failure.value) == message
    assert _count(engine) == 0  # not even the good snapshot before it


def test_the_same_snapshot_twice_in_one_load_is_refused(engine: Engine) -> None:
    with pytest.raises(InputError, match="two snapshots at 2026-11-21T01:00:00"):
        load_storage(engine, [_snapshot(), _snapshot()])
    assert _count(engine) == 0
