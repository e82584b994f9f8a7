"""GCP BigQuery billing export collector through the real google-cloud-bigquery client against a
local REST stub (jobs.query + getQueryResults paging), on SQLite and PostgreSQL. The export rows
are HAND-MADE from Google's documented schema (see tests/stubs/bigquery_stub.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_RETRY
from google.oauth2.credentials import Credentials
from sqlalchemy.engine import Engine

from collectors.base import run_collector
from collectors.gcp_billing_export import (
    GcpBillingExportCollector,
    aggregate_sql,
    export_format,
    invoice_months,
)
from tests.stubs.bigquery_stub import ACCOUNT, GPU_VM, BigQueryStub, _export_row
from warehouse.schema import cost_line_items
from warehouse.types import decimal_sum

TABLE = "ml-billing.billing.gcp_billing_export_resource_v1_0123AB_456CDE_789EF0"
NOW = dt.datetime(2024, 4, 1, 12, tzinfo=dt.UTC)
MARCH_PT = dt.datetime(2024, 3, 1, 8, tzinfo=dt.UTC)  # invoice months start at Pacific midnight
FAST_RETRY = DEFAULT_RETRY.with_delay(initial=0.05, maximum=0.2).with_timeout(5)


@pytest.fixture
def stub() -> Iterator[BigQueryStub]:
    server = BigQueryStub(page_size=2)
    yield server
    server.close()


def _collector(
    stub: BigQueryStub, *, credentials: Any = None, retry: Retry = FAST_RETRY
) -> GcpBillingExportCollector:
    # job_retry=None: a job-level retry would re-run the whole query for minutes on a dead stub
    client = bigquery.Client(
        project="ml-billing",
        credentials=credentials or AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=stub.url),
    )
    return GcpBillingExportCollector(
        client,
        table=TABLE,
        kind=export_format(TABLE),
        team_label="team",
        retries={"retry": retry, "job_retry": None},
    )


def _run(engine: Engine, collector: GcpBillingExportCollector) -> Any:
    return run_collector(
        engine, collector, now=NOW, since=dt.datetime(2024, 3, 20, tzinfo=dt.UTC), until=NOW
    )


def _totals(engine: Engine, *where: Any) -> tuple[Decimal, Decimal, int]:
    c = cost_line_items.c
    query = sa.select(decimal_sum(c.billed_cost), decimal_sum(c.effective_cost), sa.func.count())
    with engine.connect() as connection:
        billed, effective, count = connection.execute(query.where(*where)).one()
    return billed or Decimal(0), effective or Decimal(0), count


# March by hand: A100 2.933908 x 2 hours (one with a -0.5 credit), spot A100 1.2, storage 0.5,
# tax 0.65. Billed = 8.217816; effective nets the credit: 7.717816. 4 daily aggregates.
MARCH_BILLED = Decimal("2.933908") * 2 + Decimal("1.2") + Decimal("0.5") + Decimal("0.65")
MARCH_EFFECTIVE = MARCH_BILLED - Decimal("0.5")


def test_the_sql_is_pushed_down_and_parameterized() -> None:
    sql = aggregate_sql(TABLE, kind="detailed")
    assert "GROUP BY usage_date, billing_account_id, invoice_month, project_id" in sql
    assert "resource_id" in sql.split("GROUP BY")[1]
    assert "_PARTITIONTIME >= @partition_from" in sql
    assert "invoice.month IN UNNEST(@invoice_months)" in sql
    assert "SUM(CAST(cost AS NUMERIC))" in sql
    assert "resource.global_name" not in aggregate_sql(TABLE, kind="standard")
    assert "BilledCost" in aggregate_sql("p.d.focus_view", kind="focus")
    assert export_format("p.d.gcp_billing_export_v1_0123") == "standard"
    with pytest.raises(Exception, match=r"project\.dataset\.table"):
        aggregate_sql("p.d.t; DROP TABLE x", kind="standard")


def test_invoice_months_are_pacific_months() -> None:
    # 2024-04-01T05:00Z is still March 31 in Los Angeles
    assert invoice_months(dt.datetime(2024, 4, 1, 5, tzinfo=dt.UTC), NOW) == ["202403", "202404"]
    march_31_pt = dt.datetime(2024, 4, 1, 6, tzinfo=dt.UTC)  # 23:00 on March 31 in LA
    assert invoice_months(dt.datetime(2024, 3, 20, tzinfo=dt.UTC), march_31_pt) == ["202403"]


def test_collects_the_daily_aggregates_into_focus(engine: Engine, stub: BigQueryStub) -> None:
    outcome = _run(engine, _collector(stub))
    assert outcome.status == "succeeded", outcome.error
    assert _totals(engine) == (MARCH_BILLED, MARCH_EFFECTIVE, 4)
    sent = stub.queries()[0].body
    assert "GROUP BY" in sent["query"] and "202403" not in sent["query"]  # no literals
    params = {p["name"]: p["parameterValue"] for p in sent["queryParameters"]}
    months = [{"value": "202403"}, {"value": "202404"}]  # NOW is April 1 in Los Angeles
    assert params["invoice_months"] == {"arrayValues": months}
    assert params["partition_from"]["value"].startswith("2024-02-29 08:00:00")
    assert params["team_label"] == {"value": "team"}
    # 4 rows in pages of 2: the second page came from getQueryResults with the pageToken
    pages = [r for r in stub.requests if r.method == "GET" and "/queries/" in r.path]
    assert [r.query.get("pageToken") for r in pages] == [["2"]]
    c = cost_line_items.c
    with engine.connect() as connection:
        gpu = connection.execute(sa.select(cost_line_items).where(c.resource_id == GPU_VM)).one()
    assert (gpu.billed_cost, gpu.effective_cost) == (Decimal("5.867816"), Decimal("5.367816"))
    assert gpu.x_extra == {"x_Credits": "-0.5"}
    assert gpu.billing_account_id == ACCOUNT and gpu.billing_period_start == MARCH_PT
    assert gpu.charge_period_start == dt.datetime(2024, 3, 10, tzinfo=dt.UTC)
    assert (gpu.sub_account_id, gpu.service_category, gpu.tags) == (
        "ml-train",
        "Compute",
        {"team": "nlp"},
    )
    assert (gpu.pricing_category, gpu.charge_category, gpu.consumed_quantity) == (
        "Standard",
        "Usage",
        Decimal("7200"),
    )
    assert _totals(engine, c.pricing_category == "Dynamic")[0] == Decimal("1.2")
    assert _totals(engine, c.charge_category == "Tax")[0] == Decimal("0.65")


def test_running_twice_changes_nothing(engine: Engine, stub: BigQueryStub) -> None:
    collector = _collector(stub)
    assert _run(engine, collector).status == "succeeded"
    assert _run(engine, collector).status == "succeeded"
    assert _totals(engine) == (MARCH_BILLED, MARCH_EFFECTIVE, 4)


def test_restated_month_replaces_only_that_month(engine: Engine, stub: BigQueryStub) -> None:
    collector = _collector(stub)
    since = dt.datetime(2024, 2, 20, tzinfo=dt.UTC)
    assert run_collector(engine, collector, now=NOW, since=since, until=NOW).status == "succeeded"
    assert _totals(engine)[0] == MARCH_BILLED + Decimal("10.00")
    # Google restates March: a late A100 hour arrives. February is not re-read.
    stub.rows = [*stub.rows, _export_row(usage_start_time="2024-03-12T00:00:00Z", cost="2.933908")]
    assert _run(engine, collector).status == "succeeded"
    c = cost_line_items.c
    feb = dt.datetime(2024, 2, 1, 8, tzinfo=dt.UTC)
    assert _totals(engine, c.billing_period_start == feb)[:2] == (Decimal("10.00"),) * 2
    march = _totals(engine, c.billing_period_start == MARCH_PT)
    assert march == (MARCH_BILLED + Decimal("2.933908"), MARCH_EFFECTIVE + Decimal("2.933908"), 5)


def test_429_and_5xx_are_retried(engine: Engine, stub: BigQueryStub) -> None:
    stub.fail_next("429", "503")
    outcome = _run(engine, _collector(stub))
    assert outcome.status == "succeeded", outcome.error
    assert [r.status for r in stub.requests[:3]] == [429, 503, 200]
    assert _totals(engine)[0] == MARCH_BILLED


def test_persistent_5xx_fails_with_one_line(engine: Engine, stub: BigQueryStub) -> None:
    stub.fail_next(*["500"] * 100)
    retry = DEFAULT_RETRY.with_delay(initial=0.01, maximum=0.05).with_timeout(0.5)
    outcome = _run(engine, _collector(stub, retry=retry))
    assert outcome.status == "failed"
    assert outcome.error is not None and "\n" not in outcome.error
    assert "BigQuery answered HTTP 500" in outcome.error
    assert _totals(engine)[2] == 0


def test_expired_token_fails_the_run(engine: Engine, stub: BigQueryStub) -> None:
    stub.token = "fresh-token"
    outcome = _run(engine, _collector(stub, credentials=Credentials(token="expired-token")))
    assert outcome.status == "failed"
    assert outcome.error is not None and "\n" not in outcome.error
    assert "401" in outcome.error and "gcloud auth application-default login" in outcome.error
    assert "expired-token" not in outcome.error
