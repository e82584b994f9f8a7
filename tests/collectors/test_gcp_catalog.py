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
from collectors.gcp_catalog import CATALOG_SOURCE, GcpCatalogCollector
from tests.stubs.catalog_stub import CatalogStub
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
    assert [r.query.get("pageToken") for r in compute] == [None, ["2"]]
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
