"""The shipped price snapshot: regenerable from the public samples, exact, dated, and loadable."""

from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.base import run_collector
from collectors.price_snapshot import (
    PRICES_FILE,
    SHAPES_FILE,
    SNAPSHOT_DIR,
    build_snapshot,
    load_snapshot,
    main,
    read_snapshot,
    write_snapshot,
)
from collectors.registry import build_collector
from spendwatch.config import Settings
from warehouse.errors import InputError
from warehouse.queries.catalog import gpu_shape, hourly_price
from warehouse.runs import last_runs
from warehouse.schema import instance_types, prices

GIB = 1024**3
AWS_CSV = "aws/ondemand-prices/derived_ondemand_us-east-1.csv"


def _price(provider: str, region: str, sku: str, model: str = "on_demand") -> tuple[str, str]:
    [match] = [
        p
        for p in read_snapshot().prices
        if (p.provider, p.region, p.sku, p.pricing_model) == (provider, region, sku, model)
    ]
    return format(match.price, "f"), match.source


def _shape(provider: str, instance_type: str) -> tuple[int, str | None, int | None, str]:
    [match] = [
        s
        for s in read_snapshot().shapes
        if (s.provider, s.instance_type) == (provider, instance_type)
    ]
    return match.gpu_count, match.gpu_model, match.gpu_memory_bytes, match.source


def test_the_shipped_snapshot_is_what_the_build_script_makes(
    shared_data: Path, tmp_path: Path
) -> None:
    assert main(["build", "--from", str(shared_data), "--out", str(tmp_path)]) == 0
    for name in (PRICES_FILE, SHAPES_FILE):
        assert (tmp_path / name).read_bytes() == (SNAPSHOT_DIR / name).read_bytes(), (
            f"{name} is stale: run python -m collectors.price_snapshot build --from ../shared/data"
        )


def test_every_aws_row_of_the_source_is_kept_with_its_exact_text(shared_data: Path) -> None:
    with (shared_data / AWS_CSV).open(newline="") as handle:
        source = {
            row["instance_type"]: row["ondemand_usd_per_hour"] for row in csv.DictReader(handle)
        }
    aws = {p.sku: p for p in read_snapshot().prices if p.provider == "aws"}
    assert len(source) == len(aws) == 1367
    assert {sku: format(p.price, "f") for sku, p in aws.items()} == source
    assert {p.source for p in aws.values()} == {"snapshot-aws-2026-07-20"}
    assert {p.effective_at for p in aws.values()} == {
        dt.datetime(2026, 7, 20, 13, 44, 30, tzinfo=dt.UTC)
    }


@pytest.mark.parametrize(
    ("sku", "price"),
    [
        ("p5.48xlarge", "55.040000"),
        ("p4d.24xlarge", "21.957642"),
        ("g5.4xlarge", "1.624000"),  # the FOCUS sample bills "$1.624 per ... g5.4xlarge Hour"
        ("g6.xlarge", "0.804800"),
    ],
)
def test_aws_on_demand_prices(sku: str, price: str) -> None:
    assert _price("aws", "us-east-1", sku) == (price, "snapshot-aws-2026-07-20")


@pytest.mark.parametrize(
    ("sku", "model", "price"),
    [
        ("a2-highgpu-1g", "on_demand", "3.673385"),
        ("a2-highgpu-1g", "spot", "1.92802"),
        # The task summary rounds these to 88.49 and 50.61; the source has more digits.
        ("a3-highgpu-8g", "on_demand", "88.4899999025753"),
        ("a3-highgpu-8g", "spot", "50.6095408219178"),
        ("g2-standard-4", "on_demand", "0.706832255"),
        ("a2-highgpu-1g", "commitment_1y", "1689.3711392"),  # per month, as the source gives
        ("standard", "on_demand", "0.02"),
        ("nearline", "on_demand", "0.01"),
        ("coldline", "on_demand", "0.004"),
        ("archive", "on_demand", "0.0012"),
    ],
)
def test_gcp_prices_in_us_central1(sku: str, model: str, price: str) -> None:
    assert _price("gcp", "us-central1", sku, model) == (price, "snapshot-gcp-2026-07-30")


def test_aws_gpu_shapes_come_from_real_api_data() -> None:
    assert _shape("aws", "p3.16xlarge") == (8, "V100", 16 * GIB, "aws-api-sample")
    assert _shape("aws", "g3.16xlarge") == (4, "M60", 8 * GIB, "aws-api-sample")
    assert _shape("aws", "p4d.24xlarge")[:3] == (8, "A100", 40 * GIB)
    assert _shape("aws", "p4d.24xlarge")[3].startswith("aws-api-via-moto-")
    assert _shape("aws", "g5.xlarge")[:3] == (1, "A10G", 22888 * 1024**2)
    assert _shape("aws", "p5.48xlarge")[:3] == (8, "H100", 80 * GIB)
    assert _shape("aws", "p3.2xlarge") == (1, "V100", 16 * GIB, "handmade")


def test_gcp_and_azure_gpu_shapes() -> None:
    for n in (1, 2, 4, 8):
        assert _shape("gcp", f"a2-highgpu-{n}g")[:3] == (n, "A100", 40 * GIB)
        assert _shape("gcp", f"a2-ultragpu-{n}g")[:3] == (n, "A100", 80 * GIB)
    assert _shape("gcp", "a3-highgpu-8g")[:3] == (8, "H100", 80 * GIB)
    assert _shape("gcp", "g2-standard-4")[:2] == (1, "L4")
    # g4-standard-6 has 1/8 of an RTX PRO 6000: no whole GPU, an eighth of its 96 GiB.
    assert _shape("gcp", "g4-standard-6")[:3] == (0, "RTX PRO 6000", 12 * GIB)
    assert _shape("azure", "Standard_ND96asr_v4") == (8, "A100", 40 * GIB, "handmade")
    assert sum(1 for s in read_snapshot().shapes if s.provider == "gcp") == 29


def test_every_aws_gpu_family_type_in_the_price_list_has_a_shape() -> None:
    gpu_family = re.compile(r"^(p\d|g\d|gr\d)")
    shaped = {
        s.instance_type for s in read_snapshot().shapes if s.provider == "aws" and s.gpu_model
    }
    priced = {p.sku for p in read_snapshot().prices if p.provider == "aws"}
    assert sorted(sku for sku in priced if gpu_family.match(sku) and sku not in shaped) == []


def test_loading_fills_prices_and_shapes_idempotently(engine: Engine) -> None:
    snapshot = read_snapshot()
    assert load_snapshot(engine) == (len(snapshot.shapes), len(snapshot.prices))
    load_snapshot(engine)
    with engine.connect() as connection:
        counted = [
            connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (instance_types, prices)
        ]
    assert counted == [len(snapshot.shapes), len(snapshot.prices)]
    quote = hourly_price(
        engine, provider="gcp", region="us-central1", instance_type="a3-highgpu-8g"
    )
    assert quote is not None
    assert (quote.price, quote.source, quote.effective_at) == (
        Decimal("88.4899999025753"),
        "snapshot-gcp-2026-07-30",
        dt.datetime(2026, 7, 30, 6, 13, 17, tzinfo=dt.UTC),
    )
    shape = gpu_shape(engine, provider="aws", instance_type="p4de.24xlarge")
    assert shape is not None and (shape.gpu_count, shape.gpu_model) == (8, "A100")


def test_build_from_a_wrong_folder_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not found; pass --from the shared data folder") as err:
        build_snapshot(tmp_path)
    assert "\n" not in str(err.value)


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    snapshot = read_snapshot()
    write_snapshot(snapshot, tmp_path)
    assert read_snapshot(tmp_path) == snapshot


def test_the_registered_collector_loads_the_snapshot_and_records_its_sources(
    engine: Engine,
) -> None:
    now = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
    collector = build_collector("price_snapshot", Settings())
    outcome = run_collector(engine, collector, now=now)
    assert (outcome.status, outcome.rows) == ("succeeded", len(read_snapshot().prices))
    run = last_runs(engine)["price_snapshot"]
    assert run.details is not None
    assert run.details["price_sources"] == ["snapshot-aws-2026-07-20", "snapshot-gcp-2026-07-30"]
