"""The monthly report's figures on a hand-made warehouse (tests/reports/builders.py), worked out
by hand, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from reports.monthly import MonthlyReport, SavingsLine, SpendLine, monthly_report
from tests.reports.builders import AS_OF, build
from warehouse.billing_periods import FINAL_AFTER_DAYS, delivered_final

D = Decimal


def report_for(
    engine: Engine, month: str = "2024-09", *, as_of: dt.datetime = AS_OF, top_n: int = 20
) -> MonthlyReport:
    with engine.connect() as connection:
        return monthly_report(connection, month=month, as_of=as_of, top_n=top_n)


@pytest.fixture
def report(engine: Engine) -> MonthlyReport:
    build(engine)
    return report_for(engine, top_n=3)


def test_spend_by_provider_service_and_team_beside_the_previous_month(
    report: MonthlyReport,
) -> None:
    # USD: 100.25 + 50.50 + 10.10 + 200.00 - 5.00 (credit) = 355.85; August 120.00 + 250.00.
    # The October 999.00 is outside; the EUR 40.00 stays in its own currency.
    assert report.has_billing
    assert report.spend_total == (
        SpendLine("total", "EUR", D("40.00"), D(0)),
        SpendLine("total", "USD", D("355.85"), D("370.00")),
    )
    usd = report.spend_total[1]
    assert usd.change == D("-14.15")
    assert usd.change_percent == D("-3.8")  # -14.15 / 370 = -3.82 %
    assert report.spend_by_provider == (
        SpendLine("Microsoft", "EUR", D("40.00"), D(0)),
        SpendLine("Google Cloud", "USD", D("200.00"), D("250.00")),
        SpendLine("AWS", "USD", D("155.85"), D("120.00")),
    )
    assert [(s.key, s.amount) for s in report.spend_by_service if s.currency == "USD"] == [
        ("Compute Engine", D("200.00")),
        ("Amazon EC2", D("145.75")),
        ("Amazon S3", D("10.10")),
    ]
    assert [(s.key, s.amount, s.previous) for s in report.spend_by_team] == [
        ("research", D("40.00"), D(0)),
        ("vision", D("200.00"), D("250.00")),
        ("nlp", D("145.75"), D("120.00")),
        ("(untagged)", D("10.10"), D(0)),
    ]
    assert [(d.isoformat(), c, a) for d, c, a in report.daily_spend] == [
        ("2024-09-01", "USD", D("100.25")),
        ("2024-09-05", "EUR", D("40.00")),
        ("2024-09-10", "USD", D("200.00")),
        ("2024-09-12", "USD", D("-5.00")),
        ("2024-09-15", "USD", D("50.50")),
        ("2024-09-30", "USD", D("10.10")),
    ]


def test_open_savings_are_deduplicated_by_kind_owner_and_team(report: MonthlyReport) -> None:
    # i-big: idle 1000.00 beats rightsizing 600.00 (one or the other), so 1000 + 300 + 25.50.
    # Snoozed, dismissed and resolved findings are not open.
    assert report.savings_total == (SavingsLine("all", "USD", 6, D("1325.50")),)
    assert [(s.key, s.findings, s.monthly_savings) for s in report.savings_by_kind] == [
        ("idle_gpu", 1, D("1000.00")),
        ("spot_candidate", 1, D("300.00")),
        ("cold_storage", 1, D("25.50")),
        ("gpu_rightsizing", 1, D(0)),
        ("spend_anomaly", 1, D(0)),
        ("unmonitored_gpu", 1, D(0)),
    ]
    assert [(s.key, s.findings, s.monthly_savings) for s in report.savings_by_team] == [
        ("nlp", 2, D("1000.00")),
        ("vision", 1, D("300.00")),
        ("(untagged)", 2, D("25.50")),
        ("platform", 1, D(0)),
    ]
    assert [(s.key, s.monthly_savings) for s in report.savings_by_owner][:2] == [
        ("alice", D("1000.00")),
        ("bob", D("300.00")),
    ]


def test_recommendations_rank_by_counted_saving_with_evidence_lines(
    report: MonthlyReport,
) -> None:
    ranked = [
        (r.rank, r.finding_id, r.counted_savings, r.alternative_to) for r in report.recommendations
    ]
    # The anomaly is not a recommendation; rightsizing i-big is an alternative to idle i-big.
    assert ranked == [
        (1, 1, D("1000.00"), None),
        (2, 3, D("300.00"), None),
        (3, 4, D("25.50"), None),
        (4, 2, D(0), 1),
        (5, 6, D(0), None),
    ]
    assert [r.finding_id for r in report.top_recommendations] == [1, 3, 4]
    idle, spot, cold, rightsizing, unmonitored = report.recommendations
    assert idle.details == (
        ("Idle since", "2024-09-20 00:00:00 UTC"),
        ("Cost so far", "$250.00"),
        ("GPUs", "4× NVIDIA L4"),
        ("Hourly cost", "$1.369863/h"),
    )
    # Slack's mrkdwn escaping and backticks are undone: the renderer escapes for HTML.
    assert rightsizing.details[:2] == (
        ("Now", "g6.12xlarge · 4× NVIDIA L4 · $4.6016/h"),
        ("Recommended", "g6.xlarge · 1× NVIDIA L4 · $0.8048/h"),
    )
    assert ("Why spot fits", "tagged workload=training") in spot.details
    assert spot.caveats == ("Spot can be reclaimed with 2 minutes' notice",)
    assert ("Move", "STANDARD → DEEP_ARCHIVE") in cold.details
    assert unmonitored.details == (("GPUs", "8× A100 (p4d.24xlarge)"),)


def test_realized_savings_of_findings_resolved_in_the_month(report: MonthlyReport) -> None:
    # i-gone resolved 20 Sep, realized 480.00; s3://acme/tmp/ resolved 28 Sep, bill pending;
    # i-old resolved in August is not this month's.
    assert [(r.finding_id, r.estimated, r.realized) for r in report.realized] == [
        (8, D("500.00"), D("480.00")),
        (9, D("12.00"), None),
    ]
    assert report.realized_total == (SavingsLine("all", "USD", 1, D("480.00")),)


def test_gpu_hours_bought_vs_used(report: MonthlyReport) -> None:
    gpu = report.gpu
    # 40 + 10 + 5 GPU-hours bought; 40 x 25 % + 10 x 80 % = 18 used; August's hour left out.
    assert (gpu.total.hosts, gpu.total.gpu_hours, gpu.total.used_hours) == (3, 55, 18.0)
    assert round(gpu.total.utilization_percent, 2) == 32.73
    assert [(g.key, g.gpu_hours, g.used_hours) for g in gpu.by_model] == [
        ("NVIDIA L4", 40, 10.0),
        ("NVIDIA H100 80GB HBM3", 10, 8.0),
        ("NVIDIA A100-SXM4-80GB", 5, 0.0),
    ]
    assert [(g.key, g.hosts, g.gpu_hours) for g in gpu.by_team] == [
        ("nlp", 1, 40),
        ("vision", 1, 10),
        ("(not in inventory)", 1, 5),
    ]
    assert gpu.daily == ((dt.date(2024, 9, 29), 55, 18.0),)
    assert gpu.hours_without_utilization == 5


def test_caveats_name_estimated_bills_missing_days_currencies_and_exclusions(
    report: MonthlyReport,
) -> None:
    assert report.caveats == (
        "Billing for 2024-09 is not final for 2 of 3 account(s) (Google Cloud acct-gcp, "
        "Microsoft acct-az): providers restate a month for days after it ends, so these figures "
        "can still change.",
        "Charges stop early for 2 account(s) (Microsoft acct-az, Google Cloud acct-gcp; the "
        "earliest at 2024-09-06 00:00 UTC): later days of 2024-09 are missing from the totals.",
        "Amounts are in 2 currencies (EUR, USD); each is totalled on its own, never added to "
        "another.",
        "1 billed GPU instance(s) send no GPU telemetry (unmonitored_gpu findings): their hours "
        "are not in the GPU figures.",
        "5 GPU-hours had no utilization reading (MIG): they count as bought, not as used.",
        "1 snoozed finding(s) worth $80.00 a month are left out of the savings below.",
    )
    assert report.analyzed_at == dt.datetime(2024, 10, 10, 6, tzinfo=dt.UTC)


def test_a_month_in_progress_says_so_and_its_bill_is_not_final(engine: Engine) -> None:
    build(engine)
    mid = dt.datetime(2024, 9, 20, 12, tzinfo=dt.UTC)
    report = report_for(engine, as_of=mid)
    assert report.caveats[0] == (
        "2024-09 is not over: figures run to 2024-09-20 12:00 UTC, and the previous month they "
        "are compared with is whole."
    )
    # The AWS delivery finished after this as_of: not final as of then.
    assert "not final for 3 of 3 account(s)" in report.caveats[1]


def test_an_empty_warehouse_gives_a_report_saying_there_is_no_data(engine: Engine) -> None:
    report = report_for(engine, month="2024-09")
    assert not report.has_billing
    assert report.spend_total == () and report.recommendations == () and report.realized == ()
    assert report.gpu.total.gpu_hours == 0
    assert report.caveats == (
        "No billing data for 2024-09: nothing is loaded for charges in that month; run "
        "`spendwatch collect` or `spendwatch ingest focus`.",
        "No GPU telemetry for 2024-09: GPU-hours bought vs used are unknown.",
        "No analysis has run yet, so there are no findings: run `spendwatch analyze`.",
    )


def test_a_delivery_is_final_from_five_days_after_the_period_end() -> None:
    end = dt.datetime(2024, 10, 1, tzinfo=dt.UTC)
    assert FINAL_AFTER_DAYS == 5
    assert delivered_final(period_end=end, finished_at=end + dt.timedelta(days=5))
    assert not delivered_final(period_end=end, finished_at=end + dt.timedelta(days=4, hours=23))
    assert not delivered_final(period_end=end, finished_at=None)
    assert not delivered_final(period_end=None, finished_at=end)
