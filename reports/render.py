"""Render a :class:`reports.monthly.MonthlyReport`: one self-contained HTML file (inline CSS,
inline SVG charts, no scripts, nothing fetched) and a CSV of every open recommendation.

Amounts are formatted by Babel in their own (billing) currency for people, and written as plain
decimal strings in the CSV for spreadsheets. Files are written next to their final name and
renamed into place, so a reader never opens a half-written report.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import io
import os
import secrets
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from alerts.evidence_fields import money
from alerts.messages import KIND_TITLES
from reports import charts
from reports.monthly import MonthlyReport, Recommendation, SavingsLine, SpendLine

TEMPLATES = Path(__file__).parent / "templates"
TOP_SERVICES = 12
CSV_COLUMNS: tuple[str, ...] = (
    "rank",
    "finding_id",
    "kind",
    "resource_id",
    "provider",
    "account_id",
    "region",
    "owner",
    "team",
    "confidence",
    "currency",
    "monthly_savings",
    "counted_savings",
    "alternative_to",
    "recommendation",
    "evidence",
    "caveats",
    "first_seen",
)


@dataclasses.dataclass(frozen=True, slots=True)
class ReportFiles:
    html: Path
    csv: Path


def file_stem(month: str) -> str:
    return f"spendwatch-report-{month}"


def write_report(report: MonthlyReport, out_dir: Path) -> ReportFiles:
    """Write ``spendwatch-report-YYYY-MM.html`` and ``.csv`` into ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = file_stem(report.month)
    files = ReportFiles(html=out_dir / f"{stem}.html", csv=out_dir / f"{stem}.csv")
    _atomic_write(files.html, render_html(report))
    _atomic_write(files.csv, render_csv(report))
    return files


def _atomic_write(path: Path, text: str) -> None:
    # Not mkstemp: its files are private (0600), and a report is meant to be shared like any
    # file the user writes, so the new file gets 0666 less the umask, applied by the kernel.
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def render_csv(report: MonthlyReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in report.recommendations:
        writer.writerow(_csv_row(item))
    return buffer.getvalue()


def _csv_row(item: Recommendation) -> list[str]:
    values: dict[str, Any] = dataclasses.asdict(item)
    values["evidence"] = "; ".join(f"{label}: {value}" for label, value in item.details)
    values["caveats"] = " ".join(item.caveats)
    values["first_seen"] = item.first_seen.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    values["monthly_savings"] = format(item.monthly_savings, "f")
    values["counted_savings"] = format(item.counted_savings, "f")
    return ["" if values[name] is None else str(values[name]) for name in CSV_COLUMNS]


def render_html(report: MonthlyReport) -> str:
    template = _environment().get_template("monthly.html.j2")
    return template.render(
        report=report,
        month_name=format_date(report.start.date(), "MMMM y", locale="en_US"),
        previous_name=format_date(
            (report.start - dt.timedelta(days=1)).date(), "MMMM y", locale="en_US"
        ),
        last_day=(report.end - dt.timedelta(days=1)).date().isoformat(),
        charts=_charts(report),
        top_services=TOP_SERVICES,
        kind_titles=KIND_TITLES,
    )


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["money"] = money
    env.filters["change"] = change_text
    env.filters["hours"] = lambda value: format_decimal(round(value), locale="en_US")
    env.filters["percent"] = lambda value: f"{value:.1f}%"
    env.filters["when"] = lambda value: value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    env.filters["day"] = lambda value: value.astimezone(dt.UTC).strftime("%Y-%m-%d")
    env.filters["in_currency"] = lambda lines, currency: [
        line for line in lines if line.currency == currency
    ]
    return env


def change_text(line: SpendLine) -> str:
    """ "+$12.00 (+4.1%)", "new" when there was nothing before, "–" when nothing either month."""
    if line.previous == 0:
        return "new" if line.amount != 0 else "–"
    sign = "+" if line.change >= 0 else "−"
    percent = line.change_percent
    shown = f"{sign}{money(abs(line.change), line.currency)}"
    return f"{shown} ({sign}{abs(percent)}%)" if percent is not None else shown


def _charts(report: MonthlyReport) -> dict[str, dict[str, Markup]]:
    """Charts per currency, keyed ``spend_by_provider``, ``daily_spend``, ``savings_by_kind``;
    plus ``gpu`` (currency-free) under the key ``""``."""
    result: dict[str, dict[str, Markup]] = {}
    for currency in report.currencies:
        found: dict[str, Markup] = {}
        providers = [line for line in report.spend_by_provider if line.currency == currency]
        if providers:
            compare = any(line.previous != 0 for line in providers)
            found["spend_by_provider"] = charts.bar_chart(
                [_spend_bar(line, compare=compare) for line in providers],
                title=f"Spend by provider in {currency}, this month and the previous one",
            )
        spent = {day: amount for day, cur, amount in report.daily_spend if cur == currency}
        if spent:
            found["daily_spend"] = charts.column_chart(
                [day.strftime("%d %b") for day in _month_days(report)],
                [spent.get(day, Decimal(0)) for day in _month_days(report)],
                title=f"Spend per day in {currency}",
                axis_text=functools.partial(_short_money, currency=currency),
            )
        kinds = [line for line in report.savings_by_kind if line.currency == currency]
        if kinds:
            found["savings_by_kind"] = charts.bar_chart(
                _savings_bars(kinds), title=f"Open monthly savings by finding kind in {currency}"
            )
        result[currency] = found
    if report.gpu.daily:
        gpu = {day: (bought, used) for day, bought, used in report.gpu.daily}
        days = _month_days(report)
        result[""] = {
            "gpu_daily": charts.column_chart(
                [day.strftime("%d %b") for day in days],
                [gpu.get(day, (0, 0.0))[0] for day in days],
                overlay=[gpu.get(day, (0, 0.0))[1] for day in days],
                title="GPU-hours per day: bought (light) and used (dark)",
                axis_text=lambda value: f"{format_decimal(round(value), locale='en_US')} h",
            )
        }
    return result


def _month_days(report: MonthlyReport) -> list[dt.date]:
    """Every day of the month, so a column sits on its date even when days have no data."""
    first, count = report.start.date(), (report.end - report.start).days
    return [first + dt.timedelta(days=offset) for offset in range(count)]


def _spend_bar(line: SpendLine, *, compare: bool) -> charts.Bar:
    return charts.Bar(
        label=line.key,
        value=line.amount,
        text=money(line.amount, line.currency),
        previous=line.previous if compare else None,
        previous_text=f"previous month: {money(line.previous, line.currency)}",
    )


def _savings_bars(lines: Sequence[SavingsLine]) -> list[charts.Bar]:
    return [
        charts.Bar(
            label=KIND_TITLES.get(line.key, line.key),
            value=line.monthly_savings,
            text=f"{money(line.monthly_savings, line.currency)} ({line.findings})",
        )
        for line in lines
    ]


def _short_money(value: Any, *, currency: str) -> str:
    amount = Decimal(str(value))
    if amount >= 1000:
        return money((amount / 1000).quantize(Decimal(1)), currency).replace(".00", "") + "k"
    return money(amount.quantize(Decimal(1)), currency).replace(".00", "")
