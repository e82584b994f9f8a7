"""The demo storage estate: deterministic, covers every age and case it promises, loads through
``load_storage`` idempotently, and gives the ``cold_storage`` rule exactly the findings the
estate was designed for; on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.policies import ColdStoragePolicy
from analytics.storage_tiering import cold_storage_findings
from spendwatch.demo import DEMO_AS_OF
from spendwatch.demo_storage import AGES_DAYS, SNAPSHOT_LAG, storage_estate
from warehouse.load_storage import load_storage
from warehouse.queries.storage import latest_storage_inventory, storage_prices
from warehouse.schema import storage_inventory


def test_the_estate_is_deterministic_and_covers_every_promised_case() -> None:
    estate = storage_estate(as_of=DEMO_AS_OF)
    assert estate == storage_estate(as_of=DEMO_AS_OF)
    assert {snapshot.provider for snapshot in estate} == {"aws", "gcp", "azure"}
    assert {snapshot.snapshot_at for snapshot in estate} == {DEMO_AS_OF - SNAPSHOT_LAG}
    usages = [usage for snapshot in estate for usage in snapshot.prefixes]
    ages = {(DEMO_AS_OF - u.last_modified).days for u in usages if u.last_modified}
    ages |= {(DEMO_AS_OF - u.last_accessed).days for u in usages if u.last_accessed}
    assert ages == set(AGES_DAYS) == {5, 29, 30, 45, 95, 200, 400}
    managed = [s.bucket for s in estate if all(u.lifecycle_managed for u in s.prefixes)]
    assert managed == ["acme-checkpoints"]
    assert not any(
        u.lifecycle_managed for s in estate if s.bucket != managed[0] for u in s.prefixes
    )
    tiny = [u.prefix for u in usages if u.objects and u.small_objects == u.objects]
    assert tiny == ["tensorboard/events/"]


def test_the_estate_loads_idempotently(engine: Engine) -> None:
    assert load_storage(engine, storage_estate(as_of=DEMO_AS_OF)) == 18
    assert load_storage(engine, storage_estate(as_of=DEMO_AS_OF)) == 18
    with engine.connect() as connection:
        count = connection.scalar(sa.select(sa.func.count()).select_from(storage_inventory))
        tebibytes = connection.scalar(
            sa.select(sa.func.sum(storage_inventory.c.bytes)).where(
                storage_inventory.c.provider == "aws"
            )
        )
    assert count == 18
    # AWS: 1200+150+3072+900+50 GiB datasets, 2560+6144+1536 GiB checkpoints, 120+300 GiB logs
    assert tebibytes == (1200 + 150 + 3072 + 900 + 50 + 2560 + 6144 + 1536 + 120 + 300) << 30


def test_the_cold_storage_rule_finds_exactly_the_cold_hot_tier_prefixes(engine: Engine) -> None:
    load_storage(engine, storage_estate(as_of=DEMO_AS_OF))
    with engine.connect() as connection:
        found = cold_storage_findings(
            latest_storage_inventory(connection),
            prices=storage_prices(connection, as_of=DEMO_AS_OF),
            as_of=DEMO_AS_OF,
            policy=ColdStoragePolicy(),
        )
    moves = {f.resource_id: (f.evidence["target_class"], f.confidence) for f in found}
    assert moves == {
        "s3://acme-ml-datasets/imagenet/raw/": ("DEEP_ARCHIVE", "medium"),  # 400 days
        "s3://acme-ml-datasets/laion/subset/": ("DEEP_ARCHIVE", "medium"),  # 200 days
        "s3://acme-ml-datasets/imagenet/shards/": ("STANDARD_IA", "medium"),  # 45 days
        "s3://acme-training-logs/jobs/stdout/": ("STANDARD_IA", "medium"),  # exactly 30 days
        "gs://acme-gcs-features/features/v1/": ("ARCHIVE", "medium"),  # 400 days
        "gs://acme-gcs-features/eval/": ("COLDLINE", "medium"),  # 95 days
        "azure://acmemlstore/research/corpora/web-2023/": ("ARCHIVE", "high"),  # read 200 ago
        "azure://acmemlstore/research/corpora/web-2024/": ("COOL", "high"),  # read 45 days ago
    }
    # Not found, each for its reason: lifecycle-managed checkpoints, tiny TensorBoard files,
    # hot data (5 days), one day short of 30 (features/v2/), and data already in a cold class.
    assert all(f.monthly_savings > 0 for f in found)
