"""spend_anomaly and the month-end forecast through the real daily-spend query, on SQLite and
PostgreSQL.

AS_OF = 2024-10-01 00:00 UTC, so the judged days are 09-28, 09-29 and 09-30, each against the 28
days before it. Baselines alternate 100 / 120 a day (median 110, every deviation 10, so MAD 10
and the robust scale 1.4826 x 10 = 14.826).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from analytics.anomalies import (
    anomaly_window_start,
    forecast_window_start,
    month_end_forecast,
    spend_anomaly_findings,
)
from analytics.findings import Finding
from analytics.policies import SpendAnomalyPolicy
from tests.analytics.gpu_tables import load, usage_line
from warehouse.queries.spend import daily_spend

AS_OF = dt.datetime(2024, 10, 1, tzinfo=dt.UTC)
POLICY = SpendAnomalyPolicy()


def day(month: int, number: int) -> dt.datetime:
    return dt.datetime(2024, month, number, tzinfo=dt.UTC)


def line(service: str, start: dt.datetime, cost: str, **values: Any) -> dict[str, Any]:
    return usage_line(f"r-{service}", start, cost=cost) | {"service_name": service} | values


def alternating(service: str, low: str, high: str, *, last: str) -> list[dict[str, Any]]:
    """08-31 .. 09-29 alternating low/high by day, then ``last`` on 09-30."""
    days = [day(8, 31)] + [day(9, n) for n in range(1, 30)]
    rows = [line(service, d, low if d.toordinal() % 2 else high) for d in days]
    return [*rows, line(service, day(9, 30), last)]


def anomalies(engine: Engine) -> dict[str, Finding]:
    with engine.connect() as connection:
        daily = daily_spend(connection, start=anomaly_window_start(AS_OF, POLICY), end=AS_OF)
    found = spend_anomaly_findings(daily, as_of=AS_OF, policy=POLICY)
    return {f.resource_id.split("/")[-1]: f for f in found}


def test_spike_is_flagged_and_normal_variation_and_small_spikes_are_not(engine: Engine) -> None:
    load(
        engine,
        billing=[
            *alternating("Amazon EC2", "100", "120", last="300"),
            # z = (150 - 110) / 14.826 = 2.70: ordinary variation.
            *alternating("Amazon S3", "100", "120", last="150"),
            # median 5, MAD 1: z = 35 / 1.4826 = 23.6, but 35 over the median is below 50.
            *alternating("AWS Lambda", "4", "6", last="40"),
        ],
    )

    found = anomalies(engine)

    assert set(found) == {"Amazon EC2"}
    spike = found["Amazon EC2"]
    assert spike.kind == "spend_anomaly" and spike.monthly_savings == Decimal(0)
    assert spike.action == "spike:2024-09-30"
    evidence = spike.evidence
    assert (evidence["day"], evidence["amount"]) == ("2024-09-30", "300.00")
    assert (evidence["baseline_median"], evidence["baseline_mad"]) == ("110.00", "10.00")
    assert evidence["excess_over_median"] == "190.00"
    assert evidence["robust_z"] == 12.82  # 190 / 14.826 = 12.815...
    assert (evidence["baseline_start"], evidence["baseline_end"]) == ("2024-09-02", "2024-09-29")
    assert spike.confidence == "high"


def test_credits_and_refunds_are_not_spend(engine: Engine) -> None:
    load(
        engine,
        billing=[
            *alternating("Amazon EC2", "100", "120", last="300"),
            # Both on the spike day: counted, they would bring 09-30 down to 300 - 250 - 40 = 10.
            line("Amazon EC2", day(9, 30), "-250", charge_category="Credit"),
            line("Amazon EC2", day(9, 30), "-40", charge_class="Correction"),
            # A refund on a quiet service is no spend either, so no "drop" and no spike.
            line("Amazon S3", day(9, 30), "-500", charge_class="Correction"),
        ],
    )

    with engine.connect() as connection:
        daily = daily_spend(connection, start=day(9, 30), end=AS_OF)
    assert [(row.service, row.cost) for row in daily.itertuples()] == [
        ("Amazon EC2", Decimal("300"))
    ]
    assert anomalies(engine)["Amazon EC2"].evidence["amount"] == "300.00"


def test_month_end_forecast_uses_the_last_billed_day(engine: Engine) -> None:
    as_of = dt.datetime(2024, 9, 12, 9, tzinfo=dt.UTC)
    load(
        engine,
        billing=[
            # August 25-31 at 50 a day, then September 1-10 at 100 a day; 09-11 not billed yet.
            *(line("Amazon EC2", day(8, n), "50") for n in range(25, 32)),
            *(line("Amazon EC2", day(9, n), "100") for n in range(1, 11)),
            line("Amazon EC2", day(9, 1), "-80", charge_category="Credit"),
        ],
    )
    with engine.connect() as connection:
        daily = daily_spend(connection, start=forecast_window_start(as_of), end=as_of)

    (forecast,) = month_end_forecast(daily, as_of=as_of)

    # Through 09-10: month to date 10 x 100 = 1000 (the credit is not spend); trailing 7 days
    # 09-04..09-10 average 100; 20 days left (09-11..09-30): 1000 + 100 x 20 = 3000.
    assert (forecast.provider, forecast.currency, forecast.month) == ("AWS", "USD", "2024-09")
    assert forecast.through == dt.date(2024, 9, 10)
    assert forecast.month_to_date == Decimal("1000")
    assert (forecast.trailing_daily_mean, forecast.days_left) == (Decimal("100.00"), 20)
    assert forecast.forecast == Decimal("3000.00")
