"""GCP Cloud Billing Catalog prices through the real CloudCatalogClient (REST transport) against a
local stub in the public JSON shape, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry, if_exception_type
from google.auth.credentials import AnonymousCredentials
from google.cloud import billing_v1
from google.oauth2.credentials import Credentials
from sqlalchemy.engine import Engine

from collectors.base import run_collector
from collectors.gce_inventory import resource_from_instance
from collectors.gcp_catalog import CATALOG_SOURCE, GcpCatalogCollector
from collectors.price_snapshot import load_snapshot
from tests.stubs.catalog_stub import CatalogStub
from tests.stubs.gce_stub import gpu_fleet
from warehouse.load_inventory import load_inventory
from warehouse.queries.catalog import priced_gpu_resources
from warehouse.queries.resource_prices import catalog_on_demand_prices
from warehouse.schema import prices

NOW = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
EFFECTIVE = dt.datetime(2026, 7, 30, 5, 8, 31, 512000, tzinfo=dt.UTC)
A100 = "Nvidia Tesla A100 GPU running in Americas"


@pytest.fixture
def stub() -> Iterator[CatalogStub]:
    server = CatalogStub(page_size=2)
    yield server
    server.close()


def _retry(timeout: float = 5.0) -> Retry:
    transient = if_exception_type(
        exceptions.TooManyRequests, exceptions.ServiceUnavailable, exceptions.InternalServerError
    )
    return Retry(predicate=transient, initial=0.05, maximum=0.2, timeout=timeout)


def _collector(
    stub: CatalogStub, *, credentials: Any = None, retry: Retry | None = None
) -> GcpCatalogCollector:
    client = billing_v1.CloudCatalogClient(
        credentials=credentials or AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=stub.url),
    )
    return GcpCatalogCollector(client, currency="USD", retry=retry or _retry())


def _prices(engine: Engine) -> dict[tuple[str, str, str], tuple[Decimal, str]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(prices)).all()
    assert {(r.source, r.currency, r.effective_at) for r in rows} == {
        (CATALOG_SOURCE, "USD", EFFECTIVE)
    }
    return {(r.region, r.sku, r.pricing_model): (r.price, r.unit) for r in rows}


EXPECTED = {
    ("us-central1", A100, "on_demand"): (Decimal("2.933908"), "hour"),
    ("us-east1", A100, "on_demand"): (Decimal("2.933908"), "hour"),
    ("us-central1", "Spot Preemptible " + A100, "spot"): (Decimal("1.173563"), "hour"),
    # GPUs attached to N1 VMs are keyed by the model the inventory records (gpu:T4)
    ("us-central1", "gpu:T4", "on_demand"): (Decimal("0.35"), "hour"),
    ("us-east1", "gpu:T4", "on_demand"): (Decimal("0.35"), "hour"),
    ("us-east1", "gpu:T4", "spot"): (Decimal("0.07"), "hour"),
    ("us-central1", "A2 Instance Core running in Americas", "on_demand"): (
        Decimal("0.031611"),
        "hour",
    ),
    # the first Standard tier is a free allowance; the rate at volume is 0.02, as in pricing.yml
    ("us-central1", "standard", "on_demand"): (Decimal("0.02"), "GB-month"),
    ("us-central1", "archive", "on_demand"): (Decimal("0.0012"), "GB-month"),
}


def test_gpu_compute_and_storage_prices_load(engine: Engine, stub: CatalogStub) -> None:
    outcome = run_collector(engine, _collector(stub), now=NOW)
    assert outcome.status == "succeeded", outcome.error
    assert _prices(engine) == EXPECTED  # the network egress SKU and BigQuery are left out
    services = [r for r in stub.requests if r.path == "/v1/services"]
    assert [r.query.get("pageToken") for r in services] == [None, ["2"]]
    compute = [r for r in stub.requests if r.path.endswith("6F81-5844-456A/skus")]
    assert [r.query.get("pageToken") for r in compute] == [None, ["2"], ["4"]]
    assert all(r.query["currencyCode"] == ["USD"] for r in compute)


def test_running_twice_changes_nothing(engine: Engine, stub: CatalogStub) -> None:
    collector = _collector(stub)
    run_collector(engine, collector, now=NOW)
    assert run_collector(engine, collector, now=NOW + dt.timedelta(days=1)).status == "succeeded"
    assert _prices(engine) == EXPECTED


def test_429_and_5xx_are_retried(engine: Engine, stub: CatalogStub) -> None:
    stub.fail_next("429", "503")
    outcome = run_collector(engine, _collector(stub), now=NOW)
    assert outcome.status == "succeeded", outcome.error
    assert [r.status for r in stub.requests[:3]] == [429, 503, 200]
    assert _prices(engine) == EXPECTED


def test_persistent_5xx_fails_with_one_line(engine: Engine, stub: CatalogStub) -> None:
    stub.fail_next(*["500"] * 100)
    outcome = run_collector(engine, _collector(stub, retry=_retry(timeout=0.5)), now=NOW)
    assert outcome.status == "failed"
    assert outcome.error is not None and "\n" not in outcome.error
    assert "HTTP 500" in outcome.error and "run again later" in outcome.error


def test_expired_token_fails_the_run(engine: Engine, stub: CatalogStub) -> None:
    stub.token = "fresh"
    outcome = run_collector(
        engine, _collector(stub, credentials=Credentials(token="expired-token")), now=NOW
    )
    assert outcome.status == "failed"
    assert outcome.error is not None and "401" in outcome.error and "\n" not in outcome.error
    assert "expired-token" not in outcome.error
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(prices)).scalar() == 0


def test_an_n1_vm_costs_its_machine_type_plus_its_attached_gpus(
    engine: Engine, stub: CatalogStub
) -> None:
    load_snapshot(engine)
    run_collector(engine, _collector(stub), now=NOW)
    fleet = [
        resource_from_instance(instance, project="ml-train", owner_tag="owner", team_tag="team")
        for instance in gpu_fleet("ml-train")
    ]
    load_inventory(engine, resource_records=fleet, updated_at=NOW)

    priced = {r.instance_type: r for r in priced_gpu_resources(engine, provider="gcp")}
    n1 = priced["n1-standard-8"]  # infer-t4: 2 x nvidia-tesla-t4 in us-east1
    assert n1.on_demand is not None and n1.spot is not None
    # snapshot n1-standard-8 in us-east1 (pricing.yml): 0.379998/h, spot 0.13402/h;
    # the stub's T4: 0.35/h, spot 0.07/h. 0.379998 + 2 x 0.35 = 1.079998; 0.13402 + 2 x 0.07.
    assert (n1.on_demand.price, n1.spot.price) == (Decimal("1.079998"), Decimal("0.27402"))
    assert n1.on_demand.sku == "n1-standard-8 + 2 x gpu:T4"
    assert n1.on_demand.source == f"snapshot-gcp-2026-07-30 + {CATALOG_SOURCE}"
    # the later of the two dates: the snapshot's 2026-07-30 06:13:17 UTC
    assert n1.on_demand.effective_at == dt.datetime(2026, 7, 30, 6, 13, 17, tzinfo=dt.UTC)
    # A2 has its GPU built in: the machine-type price alone, though the catalog prices an A100
    a2 = priced["a2-highgpu-1g"]
    assert a2.on_demand is not None and a2.on_demand.price == Decimal("3.673385")

    with engine.connect() as connection:
        catalog = catalog_on_demand_prices(connection, as_of=NOW).set_index("instance_type")
    assert catalog.loc["n1-standard-8", "price"] == Decimal("1.079998")
    assert catalog.loc["n1-standard-8", "priced_as"] == "n1-standard-8 + 2 x gpu:T4"
    assert catalog.loc["a2-highgpu-1g", "price"] == Decimal("3.673385")
    # e2-medium (no GPU, not in the GPU-only snapshot) has no price row at all
    assert "e2-medium" not in catalog.index
