"""A believable, deterministic storage estate for the demo: ML datasets, checkpoints and logs in
S3, GCS and Azure Blob, written through the same loader the S3 collector uses.

Ages (days before ``as_of`` since the newest write, or read where the provider records reads)
are 5, 29, 30, 45, 95, 200 and 400, so the ``cold_storage`` rule has something on each side of
every threshold it knows (30, 90, 180, 365 days):

- hot data still in use (5 days), and data one day short of the 30-day tiers (29);
- cold data in the hot tier: 30 and 45 days (infrequent-access tiers), 95 (Glacier IR,
  Coldline, Azure Cold), 200 and 400 (the archive tiers);
- a bucket whose prefixes a lifecycle rule already moves (``acme-checkpoints``): no finding;
- a prefix of only tiny TensorBoard event files: colder tiers bill each as 128 KiB, so it stays;
- data already in a cold class, which the rule leaves alone.

S3 and GCS cannot tell when an object was last read, so their rows have no ``last_accessed``
and the rule judges them by ``last_modified`` (medium confidence); the Azure account has
last-access tracking on, so its rows are judged by reads (high confidence).
"""

from __future__ import annotations

import datetime as dt

from spendwatch.demo_fleet import FOCUS_PROVIDER
from warehouse.load_storage import PrefixUsage, StorageSnapshot

GIB = 1 << 30
TIB = 1 << 40
# The estate is inventoried an hour before the demo's as_of, like a nightly inventory report.
SNAPSHOT_LAG = dt.timedelta(hours=1)
AGES_DAYS = (5, 29, 30, 45, 95, 200, 400)


def _usage(
    prefix: str,
    storage_class: str,
    size: int,
    objects: int,
    *,
    as_of: dt.datetime,
    modified: int,
    accessed: int | None = None,
    small: int = 0,
    managed: bool = False,
) -> PrefixUsage:
    return PrefixUsage(
        prefix=prefix,
        storage_class=storage_class,
        bytes=size,
        objects=objects,
        small_objects=small,
        last_modified=as_of - dt.timedelta(days=modified),
        last_accessed=None if accessed is None else as_of - dt.timedelta(days=accessed),
        lifecycle_managed=managed,
    )


def storage_estate(*, as_of: dt.datetime) -> list[StorageSnapshot]:
    """One snapshot per bucket, taken :data:`SNAPSHOT_LAG` before ``as_of``."""
    at = as_of.astimezone(dt.UTC)
    snapshot_at = at - SNAPSHOT_LAG

    def bucket(
        provider: str, name: str, region: str, team: str, owner: str, *rows: PrefixUsage
    ) -> StorageSnapshot:
        return StorageSnapshot(
            provider=provider,
            bucket=name,
            snapshot_at=snapshot_at,
            prefixes=rows,
            account_id=FOCUS_PROVIDER[provider][3],
            region=region,
            tags={"team": team, "owner": owner},
        )

    return [
        bucket(
            "aws", "acme-ml-datasets", "us-east-1", "vision", "chen@example.com",
            _usage("imagenet/raw/", "STANDARD", 1200 * GIB, 1_281_167, as_of=at, modified=400),
            _usage("imagenet/shards/", "STANDARD", 150 * GIB, 1_024, as_of=at, modified=45),
            _usage(
                "laion/subset/", "STANDARD", 3 * TIB, 2_000_000, as_of=at, modified=200,
                small=40_000,
            ),
            _usage("laion/embeddings/", "GLACIER_IR", 900 * GIB, 4_096, as_of=at, modified=400),
            _usage("scratch/today/", "STANDARD", 50 * GIB, 12_000, as_of=at, modified=5),
        ),
        bucket(  # a lifecycle rule moves every checkpoint to Glacier after 180 days
            "aws", "acme-checkpoints", "us-west-2", "nlp", "alice@example.com",
            _usage(
                "llm-7b/run-2024-03/", "STANDARD", 2 * TIB + 512 * GIB, 640, as_of=at,
                modified=200, managed=True,
            ),
            _usage(
                "llm-7b/run-2024-03/", "GLACIER", 6 * TIB, 1_536, as_of=at, modified=200,
                managed=True,
            ),
            _usage(
                "llm-7b/run-2024-09/", "STANDARD", 1 * TIB + 512 * GIB, 384, as_of=at,
                modified=5, managed=True,
            ),
        ),
        bucket(
            "aws", "acme-training-logs", "us-east-1", "platform", "gus@example.com",
            _usage(  # TensorBoard event files: millions of tiny objects
                "tensorboard/events/", "STANDARD", 120 * GIB, 4_000_000, as_of=at, modified=95,
                small=4_000_000,
            ),
            _usage(
                "jobs/stdout/", "STANDARD", 300 * GIB, 90_000, as_of=at, modified=30,
                small=20_000,
            ),
        ),
        bucket(
            "gcp", "acme-gcs-features", "us-central1", "recsys", "farah@example.com",
            _usage("features/v0/", "NEARLINE", 2 * TIB, 8_192, as_of=at, modified=200),
            _usage("features/v1/", "STANDARD", 800 * GIB, 6_400, as_of=at, modified=400),
            _usage("features/v2/", "STANDARD", 600 * GIB, 4_800, as_of=at, modified=29),
            _usage("eval/", "STANDARD", 40 * GIB, 2_000, as_of=at, modified=95),
        ),
        bucket(  # storage account / container; last-access tracking is on
            "azure", "acmemlstore/research", "eastus", "research", "dana@example.com",
            _usage(
                "corpora/web-2023/", "HOT", 1 * TIB + 512 * GIB, 150_000, as_of=at,
                modified=400, accessed=200,
            ),
            _usage(
                "corpora/web-2024/", "HOT", 700 * GIB, 70_000, as_of=at, modified=95,
                accessed=45,
            ),
            _usage("notebooks/", "HOT", 20 * GIB, 3_000, as_of=at, modified=5, accessed=5),
            _usage(
                "results/", "COOL", 300 * GIB, 9_000, as_of=at, modified=95, accessed=30,
            ),
        ),
    ]  # fmt: skip
