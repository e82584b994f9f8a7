"""Azure GPU VM prices from a local Retail Prices API stub (tests/stubs/azure_retail_prices_stub.py,
HAND-MADE items in the documented shape: no public Azure GPU price sample exists), on SQLite and
PostgreSQL; and every GPU instance of all three clouds priced with its source and date."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from google.oauth2.credentials import Credentials
from sqlalchemy.engine import Engine

from collectors.aws_inventory import collect_inventory
from collectors.azure_inventory import AzureInventoryCollector
from collectors.azure_prices import AzurePricesCollector, pricing_model_of
from collectors.base import run_collector
from collectors.cloud_clients import RestJsonClient, compute_management_client
from collectors.gce_inventory import GceInventoryCollector
from collectors.price_snapshot import load_snapshot
from collectors.registry import build_collector, configured_names
from spendwatch.config import AzureSettings, Settings
from tests.stubs.azure_compute_stub import AzureComputeStub
from tests.stubs.azure_compute_stub import gpu_fleet as azure_fleet
from tests.stubs.azure_retail_prices_stub import RetailPricesStub
from tests.stubs.azure_token import StaticToken
from tests.stubs.gce_stub import GceStub
from tests.stubs.gce_stub import gpu_fleet as gce_fleet
from tests.stubs.server import RawNumber
from warehouse.load_inventory import ResourceRecord, upsert_resources
from warehouse.queries.catalog import hourly_price, priced_gpu_resources
from warehouse.runs import last_runs
from warehouse.schema import prices

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
TODAY = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
SOURCE = "azure-retail-prices"
# By hand from the HAND-MADE items: Linux consumption per hour only; the older NC6s v3 item
# (2.90, 2021) loses to the newer one; Low Priority, Windows, D4s v5 and 1/Day items are dropped.
EXPECTED = {
    ("eastus", "Standard_NC6s_v3", "on_demand"): "3.06",
    ("eastus", "Standard_NC6s_v3", "spot"): "0.6732",
    ("eastus", "Standard_ND96isr_H100_v5", "on_demand"): "98.32",
    ("eastus", "Standard_ND96isr_H100_v5", "spot"): "17.6976",
    ("eastus", "Standard_NV36ads_A10_v5", "on_demand"): "3.2",
    ("westeurope", "Standard_NC24ads_A100_v4", "on_demand"): "4.408",
    ("westeurope", "Standard_NC24ads_A100_v4", "spot"): "1.2345678901234567891",
}


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def stub() -> Iterator[RetailPricesStub]:
    server = RetailPricesStub(page_size=3)
    yield server
    server.close()


def _collector(
    stub: RetailPricesStub | str,
    *,
    regions: tuple[str, ...] = ("eastus", "westeurope"),
    retries: int = 4,
    sleep: Sleeps | None = None,
) -> AzurePricesCollector:
    url = stub if isinstance(stub, str) else stub.url
    client = RestJsonClient(
        url,
        name="Azure Retail Prices API",
        retries=retries,
        sleep=sleep if sleep is not None else Sleeps(),
    )
    return AzurePricesCollector(client, regions=regions)


def _prices(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(sa.select(prices)).mappings()]


def test_gpu_on_demand_and_spot_prices_are_exact(engine: Engine, stub: RetailPricesStub) -> None:
    outcome = run_collector(engine, _collector(stub), now=NOW)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.rows == 7
    rows = _prices(engine)
    found = {(r["region"], r["sku"], r["pricing_model"]): r["price"] for r in rows}
    assert found == {key: Decimal(value) for key, value in EXPECTED.items()}
    assert {(r["provider"], r["unit"], r["currency"], r["source"]) for r in rows} == {
        ("azure", "hour", "USD", SOURCE)
    }
    assert {r["effective_at"] for r in rows} == {TODAY}
    # 20 significant digits survive: no float anywhere on the way
    spot = found[("westeurope", "Standard_NC24ads_A100_v4", "spot")]
    assert str(spot) == "1.2345678901234567891"
    details = last_runs(engine)["azure_prices"].details
    assert details is not None
    assert (details["on_demand"], details["spot"], details["duplicates_set_aside"]) == (4, 3, 1)


def test_next_page_links_are_followed_per_region(engine: Engine, stub: RetailPricesStub) -> None:
    run_collector(engine, _collector(stub), now=NOW)
    answered = [r for r in stub.requests if r.status == 200]
    # eastus has 10 consumption items (4 pages of 3), westeurope 2 (1 page)
    assert len(answered) == 5
    assert [r.query.get("$skip") for r in answered] == [None, ["3"], ["6"], ["9"], None]
    assert answered[0].query["$filter"] == [
        "serviceName eq 'Virtual Machines' and armRegionName eq 'eastus' "
        "and priceType eq 'Consumption'"
    ]
    assert all("authorization" not in r.headers for r in answered)  # public API


def test_same_day_rerun_replaces_a_new_day_adds(engine: Engine, stub: RetailPricesStub) -> None:
    run_collector(engine, _collector(stub), now=NOW)
    again = run_collector(engine, _collector(stub), now=NOW + dt.timedelta(hours=5))
    assert again.status == "succeeded" and len(_prices(engine)) == 7
    stub.items = {
        "eastus": [dict(item) for item in stub.items["eastus"]],
        "westeurope": stub.items["westeurope"],
    }
    stub.items["eastus"][0]["retailPrice"] = RawNumber("3.16")  # NC6s v3 went up
    run_collector(engine, _collector(stub), now=NOW + dt.timedelta(days=1))
    assert len(_prices(engine)) == 14
    quote = hourly_price(
        engine, provider="azure", region="eastus", instance_type="Standard_NC6s_v3"
    )
    assert quote is not None
    assert (quote.price, quote.effective_at, quote.source) == (
        Decimal("3.16"),
        TODAY + dt.timedelta(days=1),
        SOURCE,
    )
    before = hourly_price(
        engine,
        provider="azure",
        region="eastus",
        instance_type="Standard_NC6s_v3",
        as_of=NOW,
    )
    assert before is not None and before.price == Decimal("3.06")


def test_regions_default_to_the_inventory(engine: Engine, stub: RetailPricesStub) -> None:
    nothing = run_collector(engine, _collector(stub, regions=()), now=NOW)
    assert nothing.status == "succeeded" and nothing.rows == 0
    details = last_runs(engine)["azure_prices"].details
    assert details is not None and details["regions"] == []
    assert "price_regions" in details["note"]
    upsert_resources(
        engine,
        [ResourceRecord(provider="azure", resource_id="/subscriptions/s/vm1", region="westeurope")],
        updated_at=NOW,
    )
    outcome = run_collector(engine, _collector(stub, regions=()), now=NOW + dt.timedelta(hours=1))
    assert outcome.status == "succeeded" and outcome.rows == 2
    assert {r["region"] for r in _prices(engine)} == {"westeurope"}


def test_429_waits_for_retry_after(engine: Engine, stub: RetailPricesStub) -> None:
    stub.retry_after = "3"
    stub.fail_next("429")
    sleeps = Sleeps()
    outcome = run_collector(engine, _collector(stub, sleep=sleeps), now=NOW)
    assert outcome.status == "succeeded", outcome.error
    assert sleeps == [3.0] and outcome.rows == 7


def test_5xx_fails_the_run_says_no_snapshot_and_writes_nothing(
    engine: Engine, stub: RetailPricesStub
) -> None:
    stub.fail_next("503", "503")
    outcome = run_collector(engine, _collector(stub, retries=1), now=NOW)
    assert outcome.status == "failed"
    assert outcome.error == (
        f"azure_prices (eastus): {stub.url} HTTP 503: An error has occurred. after 2 attempts; "
        "no offline Azure prices exist, so Azure GPU VMs stay unpriced until it answers; run "
        "again later or check the network and [azure] retail_prices_endpoint"
    )
    assert _prices(engine) == []


def test_a_failing_second_region_writes_nothing(engine: Engine, stub: RetailPricesStub) -> None:
    collector = _collector(stub, regions=("eastus", "westeurope"), retries=0)
    calls = iter(range(100))
    original = stub.next_fault
    stub.next_fault = lambda: "500" if next(calls) == 4 else original()  # type: ignore[method-assign]
    outcome = run_collector(engine, collector, now=NOW)
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error.startswith("azure_prices (westeurope): ")
    assert _prices(engine) == []


def test_401_and_unreachable_are_one_line_reasons(engine: Engine, stub: RetailPricesStub) -> None:
    stub.fail_next("401")
    refused = run_collector(engine, _collector(stub), now=NOW)
    assert refused.error == (
        "azure_prices (eastus): the Retail Prices API refused the request (HTTP 401: "
        "Unauthorized); no offline Azure prices exist, so Azure GPU VMs stay unpriced; check "
        "[azure] retail_prices_endpoint (it needs no credentials)"
    )
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/api/retail/prices"
    sleeps = Sleeps()
    down = run_collector(
        engine, _collector(dead, retries=2, sleep=sleeps), now=NOW + dt.timedelta(hours=1)
    )
    assert down.status == "failed"
    assert down.error == (
        f"azure_prices (eastus): {dead} unreachable (ConnectError) after 3 attempts; no offline "
        "Azure prices exist, so Azure GPU VMs stay unpriced until it answers; run again later "
        "or check the network and [azure] retail_prices_endpoint"
    )
    assert sleeps == [1.0, 2.0]
    assert _prices(engine) == []


def test_an_odd_region_name_is_refused(engine: Engine, stub: RetailPricesStub) -> None:
    outcome = run_collector(engine, _collector(stub, regions=("eastus' or 1 eq 1",)), now=NOW)
    assert outcome.status == "failed"
    assert outcome.error is not None and "is not an Azure region name" in outcome.error
    assert stub.requests == []


def test_item_rules() -> None:
    base = {
        "type": "Consumption",
        "unitOfMeasure": "1 Hour",
        "armSkuName": "Standard_ND96isr_H100_v5",
        "skuName": "ND96isr H100 v5",
        "productName": "Virtual Machines NDsr H100 v5 Series",
    }
    assert pricing_model_of(base) == "on_demand"
    assert pricing_model_of({**base, "skuName": "ND96isr H100 v5 Spot"}) == "spot"
    assert pricing_model_of({**base, "skuName": "ND96isr H100 v5 Low Priority"}) is None
    assert pricing_model_of({**base, "productName": base["productName"] + " Windows"}) is None
    assert pricing_model_of({**base, "type": "Reservation"}) is None
    assert pricing_model_of({**base, "type": "DevTestConsumption"}) is None
    assert pricing_model_of({**base, "armSkuName": "Standard_D4s_v5"}) is None
    assert pricing_model_of({**base, "isPrimaryMeterRegion": False}) is None


def test_registry_builds_it_from_settings(engine: Engine, stub: RetailPricesStub) -> None:
    settings = Settings.model_validate(
        {"azure": {"price_regions": ["westeurope"], "retail_prices_endpoint": stub.url}}
    )
    assert "azure_prices" in configured_names(settings)
    assert "azure_prices" not in configured_names(Settings())
    assert Settings().azure.retail_prices_endpoint == "https://prices.azure.com/api/retail/prices"
    outcome = run_collector(engine, build_collector("azure_prices", settings), now=NOW)
    assert outcome.status == "succeeded" and outcome.rows == 2


# --- all three clouds ---------------------------------------------------------------------------


def test_every_gpu_instance_of_every_cloud_has_a_shape_and_a_dated_price(
    engine: Engine, stub: RetailPricesStub, aws_env: str
) -> None:
    load_snapshot(engine)  # AWS and GCP prices: the shipped snapshot
    # AWS on moto: GpuInfo from DescribeInstanceTypes
    ec2 = boto3.client("ec2", region_name="us-east-1")
    for instance_type in ("p4d.24xlarge", "g5.xlarge", "t3.micro"):
        ec2.run_instances(
            ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType=instance_type
        )
    collect_inventory(engine, ec2, now=NOW)
    # GCP: A2, G2 (built-in GPU from the machine type) and A3 VMs; the N1+T4 VM is left out here
    # because the snapshot prices machine types only (see test_gce_inventory).
    gce = GceStub()
    gce.instances["ml-train"] = [vm for vm in gce_fleet() if vm["name"] != "infer-t4"]
    azure = AzureComputeStub(page_size=10)
    azure.serve("sub-1", azure_fleet("sub-1"))
    try:
        gce_client = RestJsonClient(gce.url, name="gce", credentials=Credentials(token="t"))
        assert (
            run_collector(
                engine, GceInventoryCollector(gce_client, projects=["ml-train"]), now=NOW
            ).status
            == "succeeded"
        )
        settings = Settings(azure=AzureSettings(management_endpoint=azure.url))
        client = compute_management_client(settings, "sub-1", credential=StaticToken())
        inventory = AzureInventoryCollector({"sub-1": client}, endpoint=azure.url)
        assert run_collector(engine, inventory, now=NOW).status == "succeeded"
    finally:
        gce.close()
        azure.close()
    # Azure prices for the inventory's regions (eastus, westeurope), nothing configured
    assert run_collector(engine, _collector(stub, regions=()), now=NOW).status == "succeeded"

    priced = priced_gpu_resources(engine)
    by_provider: dict[str, list[str]] = {}
    for resource in priced:
        by_provider.setdefault(resource.provider, []).append(resource.instance_type or "")
        assert resource.gpu_count and resource.gpu_model and resource.gpu_memory_bytes, resource
        quote = resource.on_demand
        assert quote is not None, f"{resource.provider} {resource.instance_type} has no price"
        assert quote.unit == "hour" and quote.currency == "USD"
        assert quote.source and quote.effective_at.tzinfo is not None
    assert sorted(by_provider["aws"]) == ["g5.xlarge", "p4d.24xlarge"]
    assert sorted(by_provider["gcp"]) == ["a2-highgpu-1g", "a3-highgpu-8g", "g2-standard-4"]
    assert sorted(by_provider["azure"]) == [
        "Standard_NC24ads_A100_v4",
        "Standard_NC6s_v3",
        "Standard_ND96isr_H100_v5",
    ]
    quotes = {(r.provider, r.instance_type): r.on_demand for r in priced if r.on_demand}
    p4d, g2, h100 = (
        quotes[("aws", "p4d.24xlarge")],
        quotes[("gcp", "g2-standard-4")],
        quotes[("azure", "Standard_ND96isr_H100_v5")],
    )
    # AWS: ../shared/data README p4d.24xlarge 21.957642; GCP: the snapshot's europe-west4 g2;
    # Azure: what the Retail Prices stub answered today.
    assert (p4d.price, p4d.source) == (Decimal("21.957642"), "snapshot-aws-2026-07-20")
    assert (g2.price, g2.source) == (Decimal("0.742916046"), "snapshot-gcp-2026-07-30")
    assert (h100.price, h100.source, h100.effective_at) == (Decimal("98.32"), SOURCE, TODAY)
