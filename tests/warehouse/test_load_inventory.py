"""Inventory, shape and price loads are idempotent upserts with exact money, on both dialects."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, replace
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warehouse.load_inventory import (
    MIB,
    InstanceTypeRecord,
    PriceRecord,
    ResourceRecord,
    load_inventory,
    upsert_prices,
    upsert_resources,
)
from warehouse.queries.catalog import gpu_shape, hourly_price, priced_gpu_resources
from warehouse.schema import instance_types, prices, resources
from warehouse.types import decimal_sum

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
SNAPSHOT_AT = dt.datetime(2026, 7, 20, 13, 44, 30, tzinfo=dt.UTC)

P4D = InstanceTypeRecord(
    provider="aws",
    instance_type="p4d.24xlarge",
    gpu_count=8,
    gpu_model="A100",
    gpu_memory_bytes=40960 * MIB,
    vcpus=96,
    memory_bytes=1179648 * MIB,
    source="aws-describe-instance-types",
)


def _price(value: str, *, source: str, at: dt.datetime = SNAPSHOT_AT) -> PriceRecord:
    return PriceRecord(
        provider="aws",
        region="us-east-1",
        sku="p4d.24xlarge",
        pricing_model="on_demand",
        unit="hour",
        price=Decimal(value),
        currency="USD",
        effective_at=at,
        source=source,
    )


def _resource(**changes: object) -> ResourceRecord:
    base = ResourceRecord(
        provider="aws",
        resource_id="i-0abc",
        account_id="123456789012",
        region="us-east-1",
        instance_type="p4d.24xlarge",
        gpu_count=8,
        gpu_model="A100",
        gpu_memory_bytes=40960 * MIB,
        lifecycle="on_demand",
        tags={"owner": "alice", "team": "nlp"},
        owner="alice",
        team="nlp",
        launched_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        state="running",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_loading_the_same_rows_twice_changes_nothing(engine: Engine) -> None:
    for _ in range(2):
        counts = load_inventory(
            engine,
            shapes=[P4D],
            price_records=[_price("21.957642", source="snapshot-aws-2026-07-20")],
            resource_records=[_resource()],
            updated_at=NOW,
        )
    assert (counts.shapes, counts.prices, counts.resources) == (1, 1, 1)
    assert [_count(engine, t) for t in (instance_types, prices, resources)] == [1, 1, 1]
    shape = gpu_shape(engine, provider="aws", instance_type="p4d.24xlarge")
    assert shape is not None and asdict(shape) == asdict(P4D)


def test_upsert_updates_a_changed_resource_in_place(engine: Engine) -> None:
    upsert_resources(engine, [_resource()], updated_at=NOW)
    later = NOW + dt.timedelta(hours=1)
    upsert_resources(engine, [_resource(state="stopped", owner="bob")], updated_at=later)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(resources)).mappings().all()
    assert len(rows) == 1
    assert (rows[0]["state"], rows[0]["owner"], rows[0]["updated_at"]) == ("stopped", "bob", later)
    assert rows[0]["tags"] == {"owner": "alice", "team": "nlp"}


def test_prices_stay_exact_decimals(engine: Engine) -> None:
    # g5.4xlarge 1.624 + g4dn.xlarge 0.526: in float that is 2.1500000000000004.
    upsert_prices(
        engine,
        [
            replace(_price("1.624", source="snapshot-aws-2026-07-20"), sku="g5.4xlarge"),
            PriceRecord(
                provider="aws",
                region="us-east-1",
                sku="g4dn.xlarge",
                pricing_model="on_demand",
                unit="hour",
                price=Decimal("0.526"),
                currency="USD",
                effective_at=SNAPSHOT_AT,
                source="snapshot-aws-2026-07-20",
            ),
        ],
    )
    with engine.connect() as connection:
        total = connection.execute(sa.select(decimal_sum(prices.c.price))).scalar_one()
    assert total == Decimal("2.150")


def test_float_prices_are_refused(engine: Engine) -> None:
    bad = _price("1", source="x")
    with pytest.raises(TypeError, match="must be a Decimal"):
        upsert_prices(engine, [replace(bad, price=1.5)])  # type: ignore[arg-type]
    assert _count(engine, prices) == 0


def test_a_failed_load_writes_nothing(engine: Engine) -> None:
    naive = dt.datetime(2026, 7, 20)  # UTCDateTime refuses it, after the shapes were sent
    with pytest.raises(sa.exc.StatementError):
        load_inventory(engine, shapes=[P4D], price_records=[_price("1.0", source="x", at=naive)])
    assert _count(engine, instance_types) == 0


def test_api_price_wins_over_snapshot_and_as_of_picks_the_price_in_force(engine: Engine) -> None:
    api_at = dt.datetime(2021, 2, 1, tzinfo=dt.UTC)
    upsert_prices(
        engine,
        [
            _price("21.957642", source="snapshot-aws-2026-07-20"),
            _price("32.7726", source="aws-pricing-api", at=api_at),
        ],
    )
    quote = hourly_price(engine, provider="aws", region="us-east-1", instance_type="p4d.24xlarge")
    assert quote is not None
    assert (quote.price, quote.source, quote.effective_at) == (
        Decimal("32.7726"),
        "aws-pricing-api",
        api_at,
    )
    before_api = hourly_price(
        engine,
        provider="aws",
        region="us-east-1",
        instance_type="p4d.24xlarge",
        as_of=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    assert before_api is None
    assert (
        hourly_price(
            engine,
            provider="aws",
            region="us-east-1",
            instance_type="p4d.24xlarge",
            pricing_model="spot",
        )
        is None
    )


def test_priced_gpu_resources_joins_inventory_and_prices(engine: Engine) -> None:
    load_inventory(
        engine,
        shapes=[P4D],
        price_records=[_price("21.957642", source="snapshot-aws-2026-07-20")],
        resource_records=[_resource(), _resource(resource_id="i-cpu", gpu_model=None)],
        updated_at=NOW,
    )
    [row] = priced_gpu_resources(engine)
    assert row.resource_id == "i-0abc"
    assert row.on_demand is not None and row.on_demand.price == Decimal("21.957642")
    assert row.on_demand.is_snapshot
    assert row.spot is None
