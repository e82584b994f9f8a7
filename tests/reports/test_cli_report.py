"""`spendwatch report` end to end through the real entry point, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from spendwatch.commands.report import previous_month_of
from tests.cli_run import cli, isolate_settings
from tests.reports.builders import build
from warehouse.db import make_engine


@pytest.fixture
def warehouse(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    isolate_settings(monkeypatch, tmp_path)  # ./reports-out lands in tmp_path
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    return db_url


def test_report_writes_html_and_csv_and_prints_their_paths(
    warehouse: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(warehouse)
    build(engine)
    engine.dispose()
    out = tmp_path / "monthly"
    code, printed, err = cli(
        capsys, "report", "--month", "2024-09", "--out", str(out), "--format", "json"
    )
    assert (code, err) == (0, "")
    assert json.loads(printed) == [
        {"month": "2024-09", "file": "html", "path": str(out / "spendwatch-report-2024-09.html")},
        {"month": "2024-09", "file": "csv", "path": str(out / "spendwatch-report-2024-09.csv")},
    ]
    html = (out / "spendwatch-report-2024-09.html").read_text(encoding="utf-8")
    assert "$355.85" in html and "$1,325.50" in html
    assert len((out / "spendwatch-report-2024-09.csv").read_text().splitlines()) == 1 + 5
    # Shared like any file the user writes: 0666 less the umask,
    # not the private 0600 of a temporary file; and no temporary file is left behind.
    umask = os.umask(0)
    os.umask(umask)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == {
        "spendwatch-report-2024-09.html": 0o666 & ~umask,
        "spendwatch-report-2024-09.csv": 0o666 & ~umask,
    }


def test_an_empty_warehouse_reports_no_billing_data_into_the_default_folder(
    warehouse: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed, _ = cli(capsys, "report", "--month", "2024-09")
    assert code == 0
    assert printed.splitlines() == [
        "reports-out/spendwatch-report-2024-09.html",
        "reports-out/spendwatch-report-2024-09.csv",
    ]
    html = (tmp_path / "reports-out" / "spendwatch-report-2024-09.html").read_text()
    assert "No billing data for 2024-09." in html


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2999-01", "error: --month 2999-01 is in the future; the latest month to report is "),
        ("2024-13", "error: --month '2024-13' is not a month; use YYYY-MM such as 2024-09"),
        ("Sept", "error: --month 'Sept' is not a month; use YYYY-MM such as 2024-09"),
    ],
)
def test_a_bad_or_future_month_is_refused_in_one_line(
    warehouse: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], month: str, message: str
) -> None:
    code, printed, err = cli(capsys, "report", "--month", month)
    assert code == 1 and printed == ""
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "reports-out").exists()


def test_the_scheduled_job_reports_the_previous_month() -> None:
    import datetime as dt

    assert previous_month_of(dt.datetime(2024, 10, 2, 6, tzinfo=dt.UTC)) == "2024-09"
    assert previous_month_of(dt.datetime(2025, 1, 2, 6, tzinfo=dt.UTC)) == "2024-12"


def test_report_job_writes_last_month_into_the_configured_folder(
    warehouse: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from spendwatch import jobs

    monkeypatch.setenv("SPENDWATCH_REPORTS__OUT_DIR", str(tmp_path / "scheduled"))
    month = previous_month_of(dt.datetime.now(dt.UTC))
    jobs.report_job()
    written = sorted(p.name for p in (tmp_path / "scheduled").iterdir())
    assert written == [f"spendwatch-report-{month}.csv", f"spendwatch-report-{month}.html"]
