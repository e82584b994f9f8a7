"""Idempotent load of storage inventory snapshots into ``storage_inventory``.

A snapshot is what one bucket (S3 bucket, GCS bucket, Azure container) held at one moment,
rolled up per prefix and storage class. Loading a snapshot replaces every row of the same
``(provider, bucket, snapshot_at)``, so re-collecting the same inventory report changes nothing,
and a prefix that vanished from a re-delivered report vanishes from the warehouse too. Older
snapshots are history and are kept. All snapshots of one call go in one transaction: a bad
snapshot leaves nothing half-written.

The record types here are the canonical frames collectors and the demo hand over.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse.errors import InputError
from warehouse.schema import storage_inventory

PROVIDERS = ("aws", "gcp", "azure")
# Keep each executemany well under SQLite's bound-parameter limit per statement.
_BATCH_ROWS = 1_000


@dataclasses.dataclass(frozen=True, slots=True)
class PrefixUsage:
    """One prefix's objects in one storage class."""

    prefix: str  # "" is the bucket root; otherwise it ends with "/"
    storage_class: str  # the provider's name, upper case: STANDARD, GLACIER, NEARLINE, HOT ...
    bytes: int
    objects: int
    small_objects: int = 0  # objects under 128 KiB (billed as 128 KiB in the colder tiers)
    last_modified: dt.datetime | None = None  # newest object's
    last_accessed: dt.datetime | None = None  # None where the provider cannot tell (plain S3)
    lifecycle_managed: bool = False  # a lifecycle rule or auto-tiering already moves it


@dataclasses.dataclass(frozen=True, slots=True)
class StorageSnapshot:
    """Everything one bucket held at ``snapshot_at``, per prefix and storage class."""

    provider: str  # aws | gcp | azure
    bucket: str
    snapshot_at: dt.datetime
    prefixes: tuple[PrefixUsage, ...]
    account_id: str | None = None
    region: str | None = None
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)  # the bucket's tags


def load_storage(engine: Engine, snapshots: Iterable[StorageSnapshot]) -> int:
    """Replace each snapshot's rows in one transaction; returns the rows written."""
    with engine.begin() as connection:
        return load_storage_in(connection, snapshots)


def load_storage_in(connection: Connection, snapshots: Iterable[StorageSnapshot]) -> int:
    """As :func:`load_storage`, inside the caller's transaction."""
    written = 0
    s = storage_inventory.c
    for snapshot in _checked(snapshots):
        connection.execute(
            storage_inventory.delete().where(
                s.provider == snapshot.provider,
                s.bucket == snapshot.bucket,
                s.snapshot_at == snapshot.snapshot_at,
            )
        )
        rows = [_row(snapshot, usage) for usage in snapshot.prefixes]
        for start in range(0, len(rows), _BATCH_ROWS):
            connection.execute(storage_inventory.insert(), rows[start : start + _BATCH_ROWS])
        written += len(rows)
    return written


def storage_rows(
    connection: Connection, *, provider: str | None = None, bucket: str | None = None
) -> list[dict[str, Any]]:
    """Rows ordered by bucket, snapshot, prefix and class; for tests and summaries."""
    s = storage_inventory.c
    query = sa.select(storage_inventory).order_by(
        s.provider, s.bucket, s.snapshot_at, s.prefix, s.storage_class
    )
    if provider is not None:
        query = query.where(s.provider == provider)
    if bucket is not None:
        query = query.where(s.bucket == bucket)
    return [dict(row) for row in connection.execute(query).mappings()]


def _row(snapshot: StorageSnapshot, usage: PrefixUsage) -> dict[str, Any]:
    return {
        "provider": snapshot.provider,
        "account_id": snapshot.account_id,
        "region": snapshot.region,
        "bucket": snapshot.bucket,
        "prefix": usage.prefix,
        "storage_class": usage.storage_class,
        "bytes": usage.bytes,
        "objects": usage.objects,
        "small_objects": usage.small_objects,
        "last_modified": usage.last_modified,
        "last_accessed": usage.last_accessed,
        "lifecycle_managed": usage.lifecycle_managed,
        "tags": dict(snapshot.tags) or None,
        "snapshot_at": snapshot.snapshot_at,
    }


def _checked(snapshots: Iterable[StorageSnapshot]) -> list[StorageSnapshot]:
    """Refuse what would corrupt the table, naming the bucket and prefix, before any write."""
    checked = list(snapshots)
    seen: set[tuple[str, str, dt.datetime]] = set()
    for snapshot in checked:
        where = f"storage snapshot {snapshot.provider}:{snapshot.bucket}"
        if snapshot.provider not in PROVIDERS:
            raise InputError(f"{where}: unknown provider; use one of {', '.join(PROVIDERS)}")
        if not snapshot.bucket:
            raise InputError(f"{where}: empty bucket name; fix the collector")
        if snapshot.snapshot_at.tzinfo is None:
            raise InputError(f"{where}: snapshot_at is naive; give it in UTC")
        key = (snapshot.provider, snapshot.bucket, snapshot.snapshot_at.astimezone(dt.UTC))
        if key in seen:
            raise InputError(
                f"{where}: two snapshots at {snapshot.snapshot_at.isoformat()} in one load; "
                "merge them first"
            )
        seen.add(key)
        classes: set[tuple[str, str]] = set()
        for usage in snapshot.prefixes:
            _check_usage(where, usage)
            if (usage.prefix, usage.storage_class) in classes:
                raise InputError(
                    f"{where}: prefix {usage.prefix!r} appears twice in {usage.storage_class}; "
                    "fix the collector"
                )
            classes.add((usage.prefix, usage.storage_class))
    return checked


def _check_usage(where: str, usage: PrefixUsage) -> None:
    label = f"{where}, prefix {usage.prefix!r}"
    if not usage.storage_class:
        raise InputError(f"{label}: empty storage class; fix the collector")
    if min(usage.bytes, usage.objects, usage.small_objects) < 0:
        raise InputError(f"{label}: negative bytes or object counts; fix the collector")
    if usage.small_objects > usage.objects:
        raise InputError(f"{label}: more small objects than objects; fix the collector")
    for name in ("last_modified", "last_accessed"):
        value = getattr(usage, name)
        if value is not None and value.tzinfo is None:
            raise InputError(f"{label}: {name} is naive; give it in UTC")
