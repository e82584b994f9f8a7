"""`spendwatch ingest focus` and `spendwatch costs` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spendwatch.cli import app

runner = CliRunner()


@pytest.fixture
def warehouse(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    monkeypatch.delenv("SPENDWATCH_CONFIG", raising=False)
    return db_url


def invoke(*args: str) -> list[dict[str, str]]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    parsed: list[dict[str, str]] = json.loads(result.stdout)
    return parsed


def test_ingest_then_costs_by_provider_gives_the_sample_sums(
    warehouse: str, shared_data: Path
) -> None:
    sample = shared_data / "focus" / "sample-data" / "focus_sample.csv"
    [summary] = invoke("ingest", "focus", str(sample), "--format", "json")
    assert summary["rows"] == 1000
    rows = invoke("costs", "--group-by", "provider", "--format", "json")
    assert {r["provider"]: Decimal(r["billed_cost"]) for r in rows} == {
        "AWS": Decimal("18.00663861840"),
        "Microsoft": Decimal("1.97651418586"),
        "Oracle": Decimal("0.53707392473"),
    }
    assert sum(Decimal(r["effective_cost"]) for r in rows) == Decimal("14.97651418586")
    assert {r["currency"] for r in rows} == {"USD"}
    assert set(rows[0]) == {"provider", "billed_cost", "effective_cost", "currency"}
    # Ingesting the same file again is a no-op for every total.
    invoke("ingest", "focus", str(sample), "--format", "json")
    again = invoke("costs", "--group-by", "provider", "--format", "json")
    assert again == rows


def test_costs_by_team_day_and_currency_never_mixes_currencies(
    warehouse: str, tmp_path: Path
) -> None:
    billing = tmp_path / "billing.csv"
    billing.write_text(
        "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,"
        "BilledCost,EffectiveCost,ListCost,Tags\n"
        'A,USD,2024-09-01,2024-09-01T05:00:00Z,10.10,9.00,11,"{""team"": ""nlp""}"\n'
        'A,USD,2024-09-01,2024-09-01T23:00:00Z,0.90,1.00,1,"{""team"": ""nlp""}"\n'
        'A,USD,2024-09-01,2024-09-02T01:00:00Z,5.00,5.00,5,"{""team"": ""vision""}"\n'
        'B,EUR,2024-09-01,2024-09-01T02:00:00Z,3.00,3.00,3,"{""team"": ""nlp""}"\n'
        "B,EUR,2024-09-01,2024-09-03T02:00:00Z,4.00,4.00,4,\n"
    )
    invoke("ingest", "focus", str(billing), "--format", "json")
    rows = invoke(
        "costs",
        "--group-by",
        "team",
        "--group-by",
        "day",
        "--from",
        "2024-09-01",
        "--to",
        "2024-09-02",
        "--format",
        "json",
    )
    assert rows == [
        {
            "team": "nlp",
            "day": "2024-09-01",
            "billed_cost": "11.00",
            "effective_cost": "10.00",
            "currency": "USD",
        },
        {
            "team": "vision",
            "day": "2024-09-02",
            "billed_cost": "5.00",
            "effective_cost": "5.00",
            "currency": "USD",
        },
        {
            "team": "nlp",
            "day": "2024-09-01",
            "billed_cost": "3.00",
            "effective_cost": "3.00",
            "currency": "EUR",
        },
    ]
    listed = invoke("costs", "--group-by", "account", "--metric", "list", "--format", "json")
    assert [(r["account"], r["list_cost"], r["currency"]) for r in listed] == [
        ("A", "17", "USD"),
        ("B", "7", "EUR"),
    ]


def test_bad_file_exits_non_zero_with_one_line_and_writes_nothing(
    warehouse: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("BilledCost,BillingPeriodStart,ChargePeriodStart\nabc,2024-09-01,2024-09-01\n")
    result = runner.invoke(app, ["ingest", "focus", str(bad)])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert str(result.exception) == (
        f"{bad}, row 1, column BilledCost: 'abc' is not a number; "
        "fix the cell and ingest the file again"
    )
    assert invoke("costs", "--format", "json") == []
    unknown = runner.invoke(app, ["costs", "--group-by", "colour"])
    assert unknown.exit_code != 0
    assert "choose from provider" in str(unknown.exception)


def test_ingest_summary_says_rows_time_rate_and_replaced(warehouse: str, shared_data: Path) -> None:
    sample = shared_data / "focus" / "sample-data" / "focus_sample.csv"
    [first] = invoke("ingest", "focus", str(sample), "--format", "json")
    assert (first["rows"], first["replaced_rows"]) == (1000, 0)
    assert isinstance(first["seconds"], float) and first["seconds"] > 0
    again = runner.invoke(app, ["ingest", "focus", str(sample)], terminal_width=200)
    assert again.exit_code == 0, again.output
    title = " ".join(again.stdout.split())  # rich may wrap the title
    assert re.search(
        r"load [0-9a-f-]{36}: 1,000 rows in \d[\d,]*\.\d s \([\d,]+ rows/s\), "
        r"1,000 earlier rows replaced",
        title,
    ), title
