"""The report's HTML and CSV against golden files (regenerate: SPENDWATCH_UPDATE_GOLDEN=1, then
review the diff). Both dialects must render byte-identical files."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from sqlalchemy.engine import Engine

from reports.monthly import monthly_report
from reports.render import render_csv, render_html, write_report
from tests.reports.builders import AS_OF, build

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SPENDWATCH_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} missing; run with SPENDWATCH_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_report_html_and_csv_match_their_golden_files(engine: Engine, tmp_path: Path) -> None:
    build(engine)
    with engine.connect() as connection:
        report = monthly_report(connection, month="2024-09", as_of=AS_OF, top_n=3)
    html, table = render_html(report), render_csv(report)
    assert_golden("monthly_2024-09.html", html)
    assert_golden("monthly_2024-09.csv", table)
    # Self-contained: no script, nothing fetched; names are escaped, never markup.
    assert "<script" not in html and not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "Act on i-big &lt;now&gt; &amp; save" in html
    # Spend by provider and per day in USD and in EUR, savings by kind (USD), GPU-hours.
    assert html.count("<svg") == 6
    # The CSV lists every open recommendation, not only the top 3, with exact amounts.
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [(r["finding_id"], r["counted_savings"], r["alternative_to"]) for r in rows] == [
        ("1", "1000.00", ""),
        ("3", "300.00", ""),
        ("4", "25.50", ""),
        ("2", "0", "1"),
        ("6", "0", ""),
    ]
    files = write_report(report, tmp_path / "out")
    assert files.html.name == "spendwatch-report-2024-09.html"
    assert files.html.read_text(encoding="utf-8") == html
    assert files.csv.read_text(encoding="utf-8") == table
    assert sorted(p.name for p in files.html.parent.iterdir()) == [
        "spendwatch-report-2024-09.csv",
        "spendwatch-report-2024-09.html",
    ]


def test_empty_warehouse_report_says_no_billing_data(engine: Engine) -> None:
    with engine.connect() as connection:
        report = monthly_report(connection, month="2024-09", as_of=AS_OF)
    html = render_html(report)
    assert_golden("empty_2024-09.html", html)
    assert "No billing data for 2024-09." in html
    assert render_csv(report) == (
        "rank,finding_id,kind,resource_id,provider,account_id,region,owner,team,confidence,"
        "currency,monthly_savings,counted_savings,alternative_to,recommendation,evidence,"
        "caveats,first_seen\n"
    )
