"""Azure Cost Management exports (EA/MCA actual and amortized cost CSV, FOCUS) into the FOCUS
warehouse, from the REAL samples in ../shared/data/azure, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.azure_exports import AzureExportsCollector
from collectors.base import run_collector
from warehouse.schema import cost_line_items
from warehouse.types import decimal_sum

NOW = dt.datetime(2023, 10, 3, tzinfo=dt.UTC)
SEPTEMBER = dt.datetime(2023, 9, 1, tzinfo=dt.UTC)
TOOLKIT = Path("azure/finops-toolkit")
ACTUAL = TOOLKIT / "EA_ActualCost_Small.csv"
AMORTIZED = TOOLKIT / "EA_AmortizedCost_Small.csv"
EA_SAMPLE = Path("azure/ea-export-sample/sample-anonymous-ea-export-dataset.csv")


def _run(engine: Engine, *exports: str) -> Any:
    return run_collector(engine, AzureExportsCollector(exports), now=NOW)


def _totals(engine: Engine, *where: Any) -> tuple[Decimal, Decimal, int]:
    c = cost_line_items.c
    query = sa.select(decimal_sum(c.billed_cost), decimal_sum(c.effective_cost), sa.func.count())
    with engine.connect() as connection:
        billed, effective, count = connection.execute(query.where(*where)).one()
    return billed or Decimal(0), effective or Decimal(0), count


def _cells(path: Path, column: str, **equal: str) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [
            row[column]
            for row in csv.DictReader(handle)
            if all(row[k] == v for k, v in equal.items())
        ]


def test_actual_cost_sample(engine: Engine, shared_data: Path) -> None:
    outcome = _run(engine, str(shared_data / ACTUAL))
    assert outcome.status == "succeeded", outcome.error
    total = Decimal("8.5450077867419368")
    assert _totals(engine) == (total, total, 11)
    c = cost_line_items.c
    purchase = _totals(engine, c.charge_category == "Purchase")
    assert purchase == (Decimal("3.25"), Decimal("3.25"), 1)  # the one reservation purchase
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(cost_line_items).where(c.charge_category == "Purchase")
        ).one()
    assert row.billing_account_id == "8611537" and row.billing_period_start == SEPTEMBER
    assert row.charge_period_start == dt.datetime(2023, 9, 21, tzinfo=dt.UTC)
    assert row.commitment_discount_type == "Reservation" and row.provider_name == "Microsoft"


def test_amortized_cost_sample(engine: Engine, shared_data: Path) -> None:
    outcome = _run(engine, str(shared_data / AMORTIZED))
    assert outcome.status == "succeeded", outcome.error
    effective = Decimal("16.29693213663664462748541900")
    # rows a reservation or savings plan covers were billed at purchase: billed 0 here
    covered = [
        Decimal(cost)
        for model in ("Reservation", "SavingsPlan")
        for cost in _cells(shared_data / AMORTIZED, "Cost", PricingModel=model)
    ]
    assert covered == [Decimal("0.493152"), Decimal("0.006000000468")]
    assert _totals(engine) == (effective - sum(covered), effective, 28)
    c = cost_line_items.c
    assert _totals(engine, c.pricing_category == "Committed")[2] == 2
    assert _totals(engine, c.pricing_category == "Standard")[2] == 26


def test_ea_export_sample_spot_rows_and_currency(engine: Engine, shared_data: Path) -> None:
    outcome = _run(engine, str(shared_data / EA_SAMPLE))
    assert outcome.status == "succeeded", outcome.error
    total = Decimal("1.26136926505726")
    assert _totals(engine) == (total, total, 27)
    c = cost_line_items.c
    assert _totals(engine, c.pricing_category == "Dynamic")[2] == 3
    assert _totals(engine, c.billing_currency == "CAD")[2] == 27
    with engine.connect() as connection:
        tags = connection.execute(sa.select(c.tags).limit(1)).scalar_one()
    assert tags == {"tagA": "valueA", "tagB": "valueB", "tagC": "valueC"}


def test_loading_twice_changes_nothing(engine: Engine, shared_data: Path) -> None:
    exports = (str(shared_data / ACTUAL), str(shared_data / EA_SAMPLE))
    assert _run(engine, *exports).status == "succeeded"
    before = _totals(engine)
    assert _run(engine, *exports).status == "succeeded"
    assert _totals(engine) == before
    assert before[2] == 11 + 27


def test_restated_month_replaces_only_that_account(
    engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    assert _run(engine, str(shared_data / ACTUAL), str(shared_data / EA_SAMPLE)).status == (
        "succeeded"
    )
    # Azure re-delivers account 8611537's September without its reservation purchase
    source = (shared_data / ACTUAL).read_text(encoding="utf-8-sig").splitlines(keepends=True)
    restated = tmp_path / "EA_ActualCost_restated.csv"
    restated.write_text("".join(line for line in source if ",Purchase," not in line))
    assert _run(engine, str(restated)).status == "succeeded"
    c = cost_line_items.c
    expected = Decimal("8.5450077867419368") - Decimal("3.25")
    assert _totals(engine, c.billing_account_id == "8611537") == (expected, expected, 10)
    ea = Decimal("1.26136926505726")
    assert _totals(engine, c.billing_account_id == "12345678") == (ea, ea, 27)


def test_actual_and_amortized_for_one_month_are_refused(engine: Engine, shared_data: Path) -> None:
    outcome = _run(engine, str(shared_data / ACTUAL), str(shared_data / AMORTIZED))
    assert outcome.status == "failed"
    assert outcome.error is not None and "\n" not in outcome.error
    assert "account 8611537 2023-09" in outcome.error and "configure one of them" in outcome.error
    assert _totals(engine)[2] == 0  # nothing half-written


def test_focus_export_passes_through(engine: Engine, shared_data: Path) -> None:
    focus = shared_data / "focus/sample-data/focus_sample.csv"
    outcome = _run(engine, f"focus:{focus}")
    assert outcome.status == "succeeded", outcome.error
    billed, _, count = _totals(engine)
    assert (billed, count) == (Decimal("20.52022672899"), 1000)


@pytest.fixture
def blob_server(shared_data: Path) -> Iterator[str]:
    """A local stand-in for a storage account: serves ../shared/data, 403 for a bad SAS."""

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if "sig=good" not in self.path:
                self.send_error(403, "AuthenticationFailed")
                return
            self.path = self.path.split("?", 1)[0]
            super().do_GET()

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(shared_data))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_export_from_a_url(engine: Engine, blob_server: str) -> None:
    outcome = _run(engine, f"{blob_server}/{ACTUAL}?sv=2022&sig=good")
    assert outcome.status == "succeeded", outcome.error
    assert _totals(engine)[2] == 11


def test_refused_download_fails_without_showing_the_sas(engine: Engine, blob_server: str) -> None:
    outcome = _run(engine, f"{blob_server}/{ACTUAL}?sv=2022&sig=s3cr3t")
    assert outcome.status == "failed"
    assert outcome.error is not None and "403" in outcome.error
    assert "s3cr3t" not in outcome.error and "renew the SAS token" in outcome.error


def test_missing_file_is_one_line(engine: Engine, tmp_path: Path) -> None:
    outcome = _run(engine, str(tmp_path / "nope.csv"))
    assert outcome.status == "failed"
    assert (
        outcome.error == f"{tmp_path / 'nope.csv'}: no such file; check the path in [azure] exports"
    )
