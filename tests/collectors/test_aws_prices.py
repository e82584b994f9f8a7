"""AWS prices from the REAL GetProducts and DescribeSpotPriceHistory answers in
../shared/data/aws/ec2-api-responses, served through botocore's Stubber (moto implements no
get_products and fakes spot history); the Stubber checks our requests against the service model.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy.engine import Engine

from collectors.aws_prices import (
    ONDEMAND_SOURCE,
    SPOT_SOURCE,
    AwsPricesCollector,
    fetch_ondemand_prices,
    fetch_spot_prices,
    nearest_rank_percentile,
    ondemand_prices_or_snapshot,
    product_filters,
)
from collectors.base import run_collector
from warehouse.errors import SourceError
from warehouse.load_inventory import ResourceRecord, load_inventory
from warehouse.queries.catalog import hourly_price
from warehouse.runs import last_runs

RESPONSES = Path("aws/ec2-api-responses")
UNTIL = dt.datetime(2021, 2, 9, 2, 0, tzinfo=dt.UTC)  # just after the file's last point
SINCE = UNTIL - dt.timedelta(days=30)


@pytest.fixture(autouse=True)
def dummy_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def _product_json(shared_data: Path) -> str:
    # GetProducts returns each PriceList entry as a JSON string; the file is one such entry.
    return (shared_data / RESPONSES / "GetProducts__m5_large.json").read_text()


def _spot_history(shared_data: Path) -> list[dict[str, Any]]:
    document = json.loads(
        (shared_data / RESPONSES / "DescribeSpotPriceHistory__m5_large.json").read_text()
    )
    points: list[dict[str, Any]] = document["SpotPriceHistory"]
    # botocore parses Timestamp into an aware datetime; the Stubber hands back what it is given.
    return [{**p, "Timestamp": dt.datetime.fromisoformat(p["Timestamp"])} for p in points]


def _get_products_params(instance_type: str, **extra: str) -> dict[str, Any]:
    return {
        "ServiceCode": "AmazonEC2",
        "Filters": product_filters(instance_type, region="us-east-1"),
        "FormatVersion": "aws_v1",
        **extra,
    }


def test_on_demand_price_from_the_real_get_products_answer(shared_data: Path) -> None:
    pricing = boto3.client("pricing", region_name="us-east-1")
    with Stubber(pricing) as stub:
        stub.add_response(
            "get_products",
            {
                "PriceList": [_product_json(shared_data)],
                "FormatVersion": "aws_v1",
                "NextToken": "2",
            },
            _get_products_params("m5.large"),
        )
        stub.add_response(
            "get_products",
            {"PriceList": [], "FormatVersion": "aws_v1"},
            _get_products_params("m5.large", NextToken="2"),
        )
        [price] = fetch_ondemand_prices(pricing, ["m5.large"], region="us-east-1")
        stub.assert_no_pending_responses()
    # "$0.096 per On Demand Linux m5.large Instance Hour"; the Reserved terms are not on-demand.
    assert price.price == Decimal("0.096")
    assert format(price.price, "f") == "0.0960000000"  # the API's own text, never a float
    assert (price.sku, price.pricing_model, price.unit, price.currency) == (
        "m5.large",
        "on_demand",
        "hour",
        "USD",
    )
    assert (price.source, price.effective_at) == (
        ONDEMAND_SOURCE,
        dt.datetime(2021, 2, 1, tzinfo=dt.UTC),
    )


def test_types_the_api_does_not_price_come_from_the_snapshot(shared_data: Path) -> None:
    pricing = boto3.client("pricing", region_name="us-east-1")
    with Stubber(pricing) as stub:
        stub.add_response(
            "get_products",
            {"PriceList": [_product_json(shared_data)], "FormatVersion": "aws_v1"},
            _get_products_params("m5.large"),
        )
        stub.add_response(
            "get_products",
            {"PriceList": [], "FormatVersion": "aws_v1"},
            _get_products_params("p4d.24xlarge"),
        )
        fetched = ondemand_prices_or_snapshot(
            pricing, ["p4d.24xlarge", "m5.large"], region="us-east-1"
        )
    by_type = {p.sku: (format(p.price, "f"), p.source) for p in fetched.prices}
    assert by_type == {
        "m5.large": ("0.0960000000", ONDEMAND_SOURCE),
        "p4d.24xlarge": ("21.957642", "snapshot-aws-2026-07-20"),
    }
    assert fetched.details() == {
        "price_sources": [ONDEMAND_SOURCE, "snapshot-aws-2026-07-20"],
        "fallback_reason": "AWS Pricing API has no price for p4d.24xlarge",
        "unpriced_types": [],
    }


def test_unreachable_pricing_api_falls_back_to_the_dated_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    pricing = boto3.client("pricing", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    fetched = ondemand_prices_or_snapshot(
        pricing, ["g5.4xlarge", "p5.48xlarge", "no-such.type"], region="us-east-1"
    )
    assert {p.sku: format(p.price, "f") for p in fetched.prices} == {
        "g5.4xlarge": "1.624000",
        "p5.48xlarge": "55.040000",
    }
    assert fetched.sources == ["snapshot-aws-2026-07-20"]
    assert fetched.missing == ["no-such.type"]
    assert fetched.fallback_reason is not None
    assert fetched.fallback_reason.startswith("AWS Pricing API unavailable (Could not connect")
    assert {p.effective_at for p in fetched.prices} == {
        dt.datetime(2026, 7, 20, 13, 44, 30, tzinfo=dt.UTC)
    }


def test_spot_p90_over_30_days_from_the_real_history(shared_data: Path) -> None:
    history = _spot_history(shared_data)
    assert len(history) == 250
    ec2 = boto3.client("ec2", region_name="us-east-1")
    request = {
        "InstanceTypes": ["m5.large"],
        "ProductDescriptions": ["Linux/UNIX"],
        "StartTime": SINCE,
        "EndTime": UNTIL,
    }
    with Stubber(ec2) as stub:  # two pages, as the API pages
        stub.add_response(
            "describe_spot_price_history",
            {"SpotPriceHistory": history[:125], "NextToken": "page-2"},
            request,
        )
        stub.add_response(
            "describe_spot_price_history",
            {"SpotPriceHistory": history[125:]},
            {**request, "NextToken": "page-2"},
        )
        records = fetch_spot_prices(ec2, ["m5.large"], until=UNTIL)
        stub.assert_no_pending_responses()
    p90 = {r.region: r.price for r in records}

    # By hand: the window keeps the 238 points from SINCE on, plus, per AZ, the last price set
    # before SINCE (still in force at SINCE): 243 prices. Nearest rank: ceil(0.9 * 243) = 219.
    inside = [Decimal(p["SpotPrice"]) for p in history if p["Timestamp"] >= SINCE]
    in_force: dict[str, dict[str, Any]] = {}
    for p in sorted(history, key=lambda p: p["Timestamp"]):
        if p["Timestamp"] < SINCE:
            in_force[p["AvailabilityZone"]] = p
    prices = sorted(inside + [Decimal(p["SpotPrice"]) for p in in_force.values()])
    assert (len(inside), len(prices)) == (238, 243)
    assert prices[0] == Decimal("0.0369") and prices[-1] == Decimal("0.0437")
    assert prices[219 - 1] == Decimal("0.042800")
    assert p90["us-east-1"] == Decimal("0.042800")
    # Per AZ, the same rule on each zone's own points.
    assert {az: str(v) for az, v in p90.items() if az != "us-east-1"} == {
        "us-east-1a": "0.042100",  # 47 prices, rank 43
        "us-east-1b": "0.038600",  # 48 prices, rank 44
        "us-east-1c": "0.038800",  # 48 prices, rank 44
        "us-east-1d": "0.043100",  # 41 prices, rank 37
        "us-east-1f": "0.043200",  # 59 prices, rank 54
    }
    assert {(r.sku, r.pricing_model, r.unit, r.source, r.effective_at) for r in records} == {
        ("m5.large", "spot", "hour", SPOT_SOURCE, UNTIL)
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"], "9"),  # ceil(9.0) = rank 9
        (["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"], "10"),  # ceil(9.9) = 10
        (["0.0437"], "0.0437"),
    ],
)
def test_nearest_rank_percentile(values: list[str], expected: str) -> None:
    assert nearest_rank_percentile([Decimal(v) for v in reversed(values)], 90) == Decimal(expected)


def test_unreachable_spot_history_is_one_line_source_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(SourceError) as err:
        fetch_spot_prices(ec2, ["p4d.24xlarge"], until=UNTIL)
    assert str(err.value).startswith("aws spot price history (us-east-1): Could not connect")
    assert "\n" not in str(err.value)


def _inventory(engine: Engine, *instance_types: str) -> None:
    records = [
        ResourceRecord(
            provider="aws",
            resource_id=f"i-{n}",
            region="us-east-1",
            instance_type=name,
            lifecycle="on_demand",
        )
        for n, name in enumerate(instance_types)
    ]
    load_inventory(engine, resource_records=records, updated_at=UNTIL)


def test_collector_loads_api_prices_for_the_inventory(engine: Engine, shared_data: Path) -> None:
    _inventory(engine, "m5.large")
    pricing = boto3.client("pricing", region_name="us-east-1")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    with Stubber(pricing) as pricing_stub, Stubber(ec2) as ec2_stub:
        pricing_stub.add_response(
            "get_products",
            {"PriceList": [_product_json(shared_data)], "FormatVersion": "aws_v1"},
            _get_products_params("m5.large"),
        )
        ec2_stub.add_response(
            "describe_spot_price_history", {"SpotPriceHistory": _spot_history(shared_data)}
        )
        collector = AwsPricesCollector(pricing=pricing, ec2=ec2)
        outcome = run_collector(engine, collector, now=UNTIL, since=SINCE, until=UNTIL)
    assert (outcome.status, outcome.rows) == ("succeeded", 7)  # 1 on-demand + 5 AZs + region
    details = last_runs(engine)["aws_prices"].details
    assert details == {
        "instance_types": 1,
        "price_sources": [ONDEMAND_SOURCE],
        "fallback_reason": None,
        "unpriced_types": [],
        "spot_prices": 6,
    }
    ondemand = hourly_price(engine, provider="aws", region="us-east-1", instance_type="m5.large")
    spot = hourly_price(
        engine,
        provider="aws",
        region="us-east-1",
        instance_type="m5.large",
        pricing_model="spot",
    )
    assert ondemand is not None and spot is not None
    assert (ondemand.price, ondemand.source) == (Decimal("0.096"), ONDEMAND_SOURCE)
    assert (spot.price, spot.source, spot.effective_at) == (Decimal("0.0428"), SPOT_SOURCE, UNTIL)


def test_collector_offline_records_that_the_dated_snapshot_was_used(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    _inventory(engine, "p4d.24xlarge", "g5.xlarge")
    down = "http://127.0.0.1:9"
    collector = AwsPricesCollector(
        pricing=boto3.client("pricing", region_name="us-east-1", endpoint_url=down),
        ec2=boto3.client("ec2", region_name="us-east-1", endpoint_url=down),
    )
    outcome = run_collector(engine, collector, now=UNTIL)
    assert (outcome.status, outcome.rows) == ("succeeded", 2)
    details = last_runs(engine)["aws_prices"].details
    assert details is not None
    assert details["price_sources"] == ["snapshot-aws-2026-07-20"]
    assert details["fallback_reason"].startswith("AWS Pricing API unavailable")
    assert details["spot_error"].startswith("aws spot price history (us-east-1): Could not")
    quote = hourly_price(engine, provider="aws", region="us-east-1", instance_type="g5.xlarge")
    assert quote is not None
    assert (str(quote.price), quote.source) == ("1.006000", "snapshot-aws-2026-07-20")
