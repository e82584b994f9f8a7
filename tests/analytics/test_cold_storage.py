"""cold_storage through the real queries, on SQLite and PostgreSQL.

Every prefix holds 1000 GiB in 10,000 movable objects unless it says otherwise, so the
expected savings are easy to check by hand: GB x (hot - target) - objects / 1000 x transition
price / 12. S3 prices are the policy table's (us-east-1 list: Standard 0.023, IA 0.0125, Glacier
IR 0.004, Deep Archive 0.00099); GCS prices come from the shipped snapshot (2026-07-30).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from analytics.findings import Finding
from analytics.policies import ColdStoragePolicy
from analytics.storage_tiering import cold_storage_findings
from collectors.price_snapshot import load_snapshot
from warehouse.queries.storage import latest_storage_inventory, storage_prices
from warehouse.schema import storage_inventory

AS_OF = dt.datetime(2026, 8, 10, 12, tzinfo=dt.UTC)
SNAPSHOT = AS_OF - dt.timedelta(hours=6)
TIB = 1000 << 30  # 1000 GiB


def prefix(name: str, *, read_days_ago: int | None = None, **values: Any) -> dict[str, Any]:
    row = {
        "provider": "aws",
        "account_id": "111122223333",
        "region": "us-east-1",
        "bucket": "ml-data",
        "prefix": name,
        "storage_class": "STANDARD",
        "bytes": TIB,
        "objects": 10_000,
        "small_objects": 0,
        "last_modified": AS_OF - dt.timedelta(days=400),
        "last_accessed": None
        if read_days_ago is None
        else AS_OF - dt.timedelta(days=read_days_ago),
        "lifecycle_managed": False,
        "tags": None,
        "snapshot_at": SNAPSHOT,
    }
    return row | values


def cold(engine: Engine, rows: list[dict[str, Any]]) -> dict[str, Finding]:
    load_snapshot(engine)
    with engine.begin() as connection:
        connection.execute(storage_inventory.insert(), rows)
        found = cold_storage_findings(
            latest_storage_inventory(connection),
            prices=storage_prices(connection, as_of=AS_OF),
            as_of=AS_OF,
            policy=ColdStoragePolicy(),
        )
    return {f.resource_id: f for f in found}


def test_tier_follows_the_days_since_last_read(engine: Engine) -> None:
    found = cold(
        engine,
        [
            prefix("read-29-days-ago/", read_days_ago=29),
            prefix("read-30-days-ago/", read_days_ago=30),
            prefix("read-95-days-ago/", read_days_ago=95),
        ],
    )

    # 29 days: under Standard-IA's 30-day minimum, so nothing.
    assert set(found) == {"s3://ml-data/read-30-days-ago/", "s3://ml-data/read-95-days-ago/"}
    ia = found["s3://ml-data/read-30-days-ago/"]
    # 1000 x (0.023 - 0.0125) = 10.50; 10 x 0.01 / 12 = 0.0083 -> 10.4917 -> 10.49.
    assert (ia.action, ia.monthly_savings, ia.confidence) == (
        "move_to:STANDARD_IA",
        Decimal("10.49"),
        "high",
    )
    assert ia.evidence["hot_price_source"] == "policy table: S3 us-east-1 public list prices"
    gir = found["s3://ml-data/read-95-days-ago/"]
    # 1000 x (0.023 - 0.004) = 19.00; 10 x 0.02 / 12 = 0.0167 -> 18.9833 -> 18.98.
    assert (gir.action, gir.monthly_savings) == ("move_to:GLACIER_IR", Decimal("18.98"))
    assert gir.evidence["transition_cost_one_time"] == "0.20"


def test_small_objects_stay_and_managed_prefixes_are_skipped(engine: Engine) -> None:
    small_bytes = 2000 * (128 << 10)
    found = cold(
        engine,
        [
            # 2000 tiny objects on top of the usual 1000 GiB / 10,000 objects: only those move.
            prefix(
                "mixed/",
                read_days_ago=95,
                bytes=TIB + small_bytes,
                objects=12_000,
                small_objects=2000,
            ),
            prefix("tiny/", read_days_ago=400, bytes=500 * 1000, objects=500, small_objects=500),
            prefix("managed/", read_days_ago=400, lifecycle_managed=True),
            # Never read as far as we know, written 200 days ago: Deep Archive, medium confidence.
            # 1000 x (0.023 - 0.00099) = 22.01; 10 x 0.05 / 12 = 0.0417 -> 21.9683 -> 21.97.
            prefix("written-200-days-ago/", last_modified=AS_OF - dt.timedelta(days=200)),
            # Already cold: nothing to do.
            prefix("archived/", storage_class="GLACIER", read_days_ago=400),
        ],
    )

    assert set(found) == {"s3://ml-data/mixed/", "s3://ml-data/written-200-days-ago/"}
    mixed = found["s3://ml-data/mixed/"]
    assert mixed.monthly_savings == Decimal("18.98")  # exactly the 1000 GiB / 10,000 objects
    assert (mixed.evidence["movable_objects"], mixed.evidence["movable_bytes"]) == (10_000, TIB)
    deep = found["s3://ml-data/written-200-days-ago/"]
    assert (deep.action, deep.monthly_savings, deep.confidence) == (
        "move_to:DEEP_ARCHIVE",
        Decimal("21.97"),
        "medium",
    )
    assert deep.evidence["idle_basis"] == "modified"


def test_gcs_prices_come_from_the_snapshot_and_only_the_newest_snapshot_counts(
    engine: Engine,
) -> None:
    gcs = {"provider": "gcp", "region": "us-central1", "bucket": "gcs-lake", "account_id": "p1"}
    found = cold(
        engine,
        [
            prefix("features/", read_days_ago=100, **gcs),
            # Last month this prefix was STANDARD; the newest snapshot has it in COLDLINE.
            prefix(
                "moved/",
                read_days_ago=100,
                snapshot_at=SNAPSHOT - dt.timedelta(days=30),
                **gcs,
            ),
            prefix("moved/", read_days_ago=100, storage_class="COLDLINE", **gcs),
        ],
    )

    assert set(found) == {"gs://gcs-lake/features/"}
    finding = found["gs://gcs-lake/features/"]
    # 100 days: Coldline (90) fits, Archive (365) does not. us-central1: standard 0.02,
    # coldline 0.004. 1000 x 0.016 = 16.00; 10 x 0.02 / 12 = 0.0167 -> 15.9833 -> 15.98.
    assert (finding.action, finding.monthly_savings) == ("move_to:COLDLINE", Decimal("15.98"))
    evidence = finding.evidence
    assert evidence["hot_price_source"] == "snapshot-gcp-2026-07-30 (2026-07-30)"
    assert evidence["target_price_per_gb_month"] == "0.004"
