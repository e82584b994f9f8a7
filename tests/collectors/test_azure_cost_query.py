"""Azure Cost Management query collector against a local stub answering Azure's documented
payloads (BillingAccountQuery.json from Azure/azure-rest-api-specs), through the real
``CostManagementClient`` and azure-core pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.azure_cost_query import DIMENSIONS, AzureCostQueryCollector, months
from collectors.base import run_collector
from collectors.cloud_clients import cost_management_client
from spendwatch.config import AzureSettings, Settings
from tests.stubs.azure_cost_stub import Answer, AzureCostStub, documented_answer
from tests.stubs.azure_token import StaticToken
from tests.stubs.server import RawNumber
from warehouse.schema import cost_line_items
from warehouse.types import decimal_sum

ACCOUNT = "/providers/Microsoft.Billing/billingAccounts/70664866"
SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000001"
NOW = dt.datetime(2018, 4, 2, 6, tzinfo=dt.UTC)
MARCH = dt.datetime(2018, 3, 1, tzinfo=dt.UTC)
APRIL = dt.datetime(2018, 4, 1, tzinfo=dt.UTC)
# The four PreTaxCost cells of the example, summed as written:
# 19.545363672276512 + 173.41979241290323 + 20.359416562625452 + 0.16677720329728665.
# (../shared/data/README.md says 213.49134985110247865: that is the sum after a float round
# trip, which shortens 20.359416562625452 to 20.35941656262545; we never pass money through float.)
DOCUMENTED_SUM = Decimal("213.49134985110248065")
FLOAT_ROUND_TRIP_SUM = Decimal("213.49134985110247865")


@pytest.fixture
def stub() -> Iterator[AzureCostStub]:
    server = AzureCostStub(page_size=2)
    yield server
    server.close()


def _collector(
    stub: AzureCostStub, *, scopes: list[str], token: str | None = None
) -> AzureCostQueryCollector:
    settings = Settings(azure=AzureSettings(scopes=scopes, management_endpoint=stub.url))
    client = cost_management_client(
        settings, credential=StaticToken(token or stub.token), retry_backoff_factor=0.01
    )
    return AzureCostQueryCollector(
        client, scopes=scopes, endpoint=stub.url, team_tag=settings.tags.team
    )


def _serve_documented(stub: AzureCostStub, shared_data: Path, scope: str = ACCOUNT) -> None:
    answer = documented_answer(shared_data)
    stub.answer(scope, "ActualCost", answer)
    stub.answer(scope, "AmortizedCost", answer)


def _sums(engine: Engine) -> tuple[Decimal, Decimal, int]:
    c = cost_line_items.c
    query = sa.select(decimal_sum(c.billed_cost), decimal_sum(c.effective_cost), sa.func.count())
    with engine.connect() as connection:
        billed, effective, count = connection.execute(query).one()
    return billed or Decimal(0), effective or Decimal(0), count


def _run(engine: Engine, collector: AzureCostQueryCollector) -> Any:
    return run_collector(
        engine, collector, now=NOW, since=dt.datetime(2018, 3, 5, tzinfo=dt.UTC), until=NOW
    )


def test_months_are_whole_calendar_months() -> None:
    assert months(dt.datetime(2018, 3, 5, tzinfo=dt.UTC), NOW) == [MARCH, APRIL]
    assert months(MARCH, APRIL) == [MARCH]


def test_documented_answer_loads_with_the_exact_daily_sum(
    engine: Engine, stub: AzureCostStub, shared_data: Path
) -> None:
    _serve_documented(stub, shared_data)
    outcome = _run(engine, _collector(stub, scopes=[ACCOUNT]))
    assert outcome.status == "succeeded", outcome.error
    billed, effective, count = _sums(engine)
    assert (billed, effective, count) == (DOCUMENTED_SUM, DOCUMENTED_SUM, 4)
    assert billed != FLOAT_ROUND_TRIP_SUM
    # 2 months x 2 cost types; March has 4 rows in pages of 2, so each March query takes 2 posts
    queries = [r for r in stub.requests if r.status == 200]
    assert len(queries) == 2 * 2 + 2
    first = queries[0].body
    assert first["type"] == "ActualCost" and first["dataset"]["granularity"] == "Daily"
    assert first["timePeriod"] == {"from": "2018-03-01T00:00:00Z", "to": "2018-03-31T23:59:59Z"}
    grouping = first["dataset"]["grouping"]
    assert [g["name"] for g in grouping] == [*DIMENSIONS, "team"]
    assert grouping[-1]["type"] == "TagKey"
    # nextLink is POSTed the same body, with the skiptoken the stub handed out
    follow = queries[1]
    assert follow.query["$skiptoken"] == ["2"] and follow.body == first
    assert queries[0].query["api-version"] == ["2025-03-01"]
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(cost_line_items).where(
                cost_line_items.c.billed_cost == Decimal("173.41979241290323")
            )
        ).one()
    assert row.billing_account_id == ACCOUNT.strip("/")
    assert row.charge_period_start == dt.datetime(2018, 3, 31, tzinfo=dt.UTC)
    assert row.billing_period_start == MARCH
    assert row.billing_currency == "USD" and row.provider_name == "Microsoft"
    assert row.x_extra == {"x_ResourceGroup": "RVIIOT-TRIAL"}


def test_running_twice_changes_nothing(
    engine: Engine, stub: AzureCostStub, shared_data: Path
) -> None:
    _serve_documented(stub, shared_data)
    collector = _collector(stub, scopes=[ACCOUNT])
    _run(engine, collector)
    before = _sums(engine)
    outcome = _run(engine, collector)
    assert outcome.status == "succeeded"
    assert _sums(engine) == before == (DOCUMENTED_SUM, DOCUMENTED_SUM, 4)


# HAND-MADE: a grouped answer in the documented column shape (the specs' examples carry no
# ResourceId/PricingModel/tag grouping): one GPU VM on demand, one reserved VM, one purchase.
VM = f"{SUBSCRIPTION}/resourceGroups/ml/providers/Microsoft.Compute/virtualMachines/gpu-1"
RESERVED = f"{SUBSCRIPTION}/resourceGroups/ml/providers/Microsoft.Compute/virtualMachines/web-1"
ORDER = "/providers/Microsoft.Capacity/reservationOrders/1111"
GROUPED_COLUMNS = [
    {"name": name, "type": kind}
    for name, kind in (
        ("Cost", "Number"),
        ("UsageDate", "Number"),
        ("ResourceId", "String"),
        ("MeterCategory", "String"),
        ("PricingModel", "String"),
        ("ChargeType", "String"),
        ("TagKey", "String"),
        ("TagValue", "String"),
        ("Currency", "String"),
    )
]


def _grouped(rows: list[list[Any]]) -> Answer:
    return Answer(GROUPED_COLUMNS, [[RawNumber(r[0]), *r[1:]] for r in rows])


ACTUAL = [
    ["73.44", 20180310, VM, "Virtual Machines", "OnDemand", "Usage", "team", "nlp", "USD"],
    ["0", 20180310, RESERVED, "Virtual Machines", "Reservation", "Usage", "team", "web", "USD"],
    ["30.00", 20180301, ORDER, "Virtual Machines", "Reservation", "Purchase", "", "", "USD"],
]
AMORTIZED = [
    ["73.44", 20180310, VM, "Virtual Machines", "OnDemand", "Usage", "team", "nlp", "USD"],
    ["0.97", 20180310, RESERVED, "Virtual Machines", "Reservation", "Usage", "team", "web", "USD"],
]


def test_grouped_rows_join_actual_and_amortized_into_focus(
    engine: Engine, stub: AzureCostStub
) -> None:
    stub.answer(SUBSCRIPTION, "ActualCost", _grouped(ACTUAL))
    stub.answer(SUBSCRIPTION, "AmortizedCost", _grouped(AMORTIZED))
    outcome = _run(engine, _collector(stub, scopes=[SUBSCRIPTION]))
    assert outcome.status == "succeeded", outcome.error
    # billed = actual total 73.44 + 30.00; effective = amortized total 73.44 + 0.97
    assert _sums(engine) == (Decimal("103.44"), Decimal("74.41"), 3)
    with engine.connect() as connection:
        rows = {r.resource_id: r for r in connection.execute(sa.select(cost_line_items)).all()}
    gpu = rows[VM]
    assert (gpu.pricing_category, gpu.charge_category, gpu.tags) == (
        "Standard",
        "Usage",
        {"team": "nlp"},
    )
    assert gpu.service_category == "Compute" and gpu.service_name == "Virtual Machines"
    assert gpu.sub_account_id == "00000000-0000-0000-0000-000000000001"
    assert gpu.resource_name == "gpu-1"
    reserved = rows[RESERVED]
    assert (reserved.billed_cost, reserved.effective_cost) == (Decimal("0"), Decimal("0.97"))
    assert reserved.pricing_category == "Committed"
    assert reserved.commitment_discount_type == "Reservation"
    purchase = rows[ORDER]
    assert (purchase.billed_cost, purchase.effective_cost) == (Decimal("30.00"), Decimal("0"))
    assert (purchase.charge_category, purchase.pricing_category) == ("Purchase", "Standard")


def test_restated_month_replaces_only_that_account_and_month(
    engine: Engine, stub: AzureCostStub, shared_data: Path
) -> None:
    _serve_documented(stub, shared_data, ACCOUNT)
    stub.answer(SUBSCRIPTION, "ActualCost", _grouped(ACTUAL))
    stub.answer(SUBSCRIPTION, "AmortizedCost", _grouped(AMORTIZED))
    collector = _collector(stub, scopes=[ACCOUNT, SUBSCRIPTION])
    assert _run(engine, collector).status == "succeeded"
    # Azure restates the subscription's March: the GPU VM cost is corrected down to 70.00
    corrected = [["70.00", *ACTUAL[0][1:]], *ACTUAL[1:]]
    stub.answer(SUBSCRIPTION, "ActualCost", _grouped(corrected))
    assert _run(engine, collector).status == "succeeded"
    billed, effective, count = _sums(engine)
    assert billed == DOCUMENTED_SUM + Decimal("100.00")
    assert effective == DOCUMENTED_SUM + Decimal("74.41")
    assert count == 4 + 3


def test_429_with_only_cost_management_headers_is_waited_out(
    engine: Engine, stub: AzureCostStub, shared_data: Path
) -> None:
    _serve_documented(stub, shared_data)
    stub.fail_next("429", "503")
    started = time.monotonic()
    outcome = _run(engine, _collector(stub, scopes=[ACCOUNT]))
    assert outcome.status == "succeeded", outcome.error
    assert time.monotonic() - started >= 1.0  # the qpu retry-after of 1 s was honoured
    assert [r.status for r in stub.requests[:3]] == [429, 503, 200]
    assert _sums(engine)[0] == DOCUMENTED_SUM


def test_expired_token_fails_the_run_with_one_line(
    engine: Engine, stub: AzureCostStub, shared_data: Path
) -> None:
    _serve_documented(stub, shared_data)
    outcome = _run(engine, _collector(stub, scopes=[ACCOUNT], token="expired"))
    assert outcome.status == "failed"
    assert outcome.error is not None and "\n" not in outcome.error
    assert "401" in outcome.error and "sign in again" in outcome.error
    assert "expired" not in outcome.error.split("(")[0]  # the token itself is never shown
    assert _sums(engine)[2] == 0


def test_persistent_5xx_fails_and_keeps_what_was_loaded(
    engine: Engine, stub: AzureCostStub, shared_data: Path
) -> None:
    _serve_documented(stub, shared_data)
    collector = _collector(stub, scopes=[ACCOUNT])
    assert _run(engine, collector).status == "succeeded"
    stub.fail_next(*["500"] * 10)
    outcome = _run(engine, collector)
    assert outcome.status == "failed"
    assert outcome.error is not None and "HTTP 500" in outcome.error
    assert "run again later" in outcome.error
    assert _sums(engine) == (DOCUMENTED_SUM, DOCUMENTED_SUM, 4)  # nothing half-written
