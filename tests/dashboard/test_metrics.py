"""The pure figures behind the pages, on small tables worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from analytics.policies import ColdStoragePolicy
from dashboard import metrics

UTC = dt.UTC


def _load(load_id: str, period: dt.datetime, last_charge: dt.datetime) -> dict[str, object]:
    next_period = (period + dt.timedelta(days=32)).replace(day=1)
    return {
        "provider_name": "AWS",
        "billing_account_id": "111",
        "billing_period_start": period,
        "billing_period_end": next_period,
        "x_load_id": load_id,
        "last_charge": last_charge,
    }


def test_a_period_is_final_once_a_load_lands_five_days_after_it_ends() -> None:
    august = dt.datetime(2024, 8, 1, tzinfo=UTC)
    september = dt.datetime(2024, 9, 1, tzinfo=UTC)
    loads = [
        _load("aug", august, dt.datetime(2024, 8, 31, 23, tzinfo=UTC)),
        _load("sep", september, dt.datetime(2024, 9, 30, 23, tzinfo=UTC)),
    ]
    finished = {
        "aug": dt.datetime(2024, 9, 6, tzinfo=UTC),  # 1 Sep + 5 days: final
        "sep": dt.datetime(2024, 10, 5, 23, tzinfo=UTC),  # 1 Oct + 4 days 23 h: not yet
    }
    (row,) = metrics.billing_freshness(loads, finished, today=dt.date(2024, 10, 6))
    assert row["last_charge_day"] == dt.date(2024, 9, 30)
    assert row["days_behind"] == 6
    assert row["feed"] == "late"  # 6 days > the default 3
    (lenient,) = metrics.billing_freshness(
        loads, finished, today=dt.date(2024, 10, 6), late_after_days=6
    )
    assert lenient["feed"] == "current"  # exactly 6 days behind is not over 6
    assert row["latest_period"] == "2024-09"
    assert row["latest_period_status"] == "estimated"
    assert (row["final_periods"], row["estimated_periods"]) == (1, 1)


def test_storage_classes_use_the_prices_table_before_the_policy_table() -> None:
    inventory = pd.DataFrame(
        [
            ("gcp", "us-central1", "STANDARD", 10 << 30, 5),  # table: 0.02 -> 0.20
            ("aws", "us-east-1", "STANDARD", 10 << 30, 5),  # policy: 0.023 -> 0.23
            ("aws", "us-east-1", "GLACIER", 10 << 30, 5),  # policy's other prices: 0.0036 -> 0.04
            ("aws", "us-east-1", "REDUCED_REDUNDANCY", 10 << 30, 5),  # no price anywhere
        ],
        columns=["provider", "region", "storage_class", "bytes", "objects"],
    )
    prices = pd.DataFrame(
        [("gcp", "us-central1", "STANDARD", Decimal("0.020"))],
        columns=["provider", "region", "storage_class", "price"],
    )
    tiers = metrics.tier_costs(inventory, prices, policy=ColdStoragePolicy())
    cost = {(r.provider, r.storage_class): (r.cost, r.priced) for r in tiers.itertuples()}
    assert cost == {
        ("aws", "GLACIER"): (Decimal("0.04"), True),  # 10 GB x 0.0036 = 0.036
        ("aws", "REDUCED_REDUNDANCY"): (Decimal("0.00"), False),
        ("aws", "STANDARD"): (Decimal("0.23"), True),
        ("gcp", "STANDARD"): (Decimal("0.20"), True),
    }


def test_top_movers_rank_by_absolute_change_with_percent() -> None:
    day = dt.date(2024, 9, 1)

    def row(service: str, cost: str) -> dict[str, object]:
        return {"provider": "AWS", "service": service, "day": day, "billed": Decimal(cost)}

    movers = metrics.top_movers(
        [row("EC2", "150"), row("S3", "5")], [row("EC2", "100"), row("S3", "45"), row("RDS", "7")]
    )
    assert [(m["service"], m["change"], m["change_pct"]) for m in movers] == [
        ("EC2", Decimal("50"), 0.5),
        ("S3", Decimal("-40"), -40 / 45),
        ("RDS", Decimal("-7"), -1.0),
    ]


def _day_row(day: int, billed: str, *, usage: bool, service: str = "EC2") -> dict[str, object]:
    return {
        "day": dt.date(2024, 9, day),
        "provider": "AWS",
        "account": "111",
        "service": service,
        "category": "Compute",
        "team": None,
        "currency": "USD",
        "usage": usage,
        "billed": Decimal(billed),
        "effective": Decimal(billed) * Decimal("0.9"),  # a discount: the forecast is on billed
        "line_items": 1,
    }


def test_the_forecast_is_on_the_month_to_date_basis_and_equals_it_once_the_month_is_over() -> None:
    rows = [_day_row(day, "100", usage=True) for day in range(1, 11)]
    rows += [_day_row(5, "-50", usage=False, service="Credit")]
    rows += [_day_row(10, "20", usage=False, service="Tax")]
    running = metrics.month_forecast(
        rows,
        end=dt.date(2024, 9, 10),
        now=dt.datetime(2024, 9, 11, tzinfo=UTC),
        provider=None,
        currency="USD",
        trailing_days=7,
    )
    # Billed to date 10 x 100 - 50 + 20 = 970; usage 1000 + 20 days left x the 7-day mean of
    # 100 = 3000, plus the credit and the tax as billed (-30): 2970.
    assert (running.month_to_date, running.forecast) == (Decimal(970), Decimal(2970))
    assert running.through == dt.date(2024, 9, 10) and not running.complete
    over = metrics.month_forecast(
        rows,
        end=dt.date(2024, 9, 30),
        now=dt.datetime(2024, 10, 2, tzinfo=UTC),
        provider=None,
        currency="USD",
        trailing_days=7,
    )
    assert (over.month_to_date, over.forecast, over.complete) == (Decimal(970), Decimal(970), True)


def test_realized_savings_by_month_show_the_quiet_months_too() -> None:
    def resolved(month: int, amount: str) -> dict[str, object]:
        return {
            "resolved_at": dt.datetime(2024, month, 15, tzinfo=UTC),
            "currency": "USD",
            "realized_monthly_savings": Decimal(amount),
        }

    rows = [resolved(2, "100.50"), resolved(2, "20"), resolved(4, "7.25")]
    frame = metrics.realized_by_month(rows, at_least_months=6)
    # Six months back from April 2024 is November 2023; February sums 100.50 + 20.
    assert list(frame["month"]) == [
        "2023-11", "2023-12", "2024-01", "2024-02", "2024-03", "2024-04",
    ]  # fmt: skip
    assert list(frame["realized"]) == [0, 0, 0, Decimal("120.50"), 0, Decimal("7.25")]
    assert list(metrics.realized_by_month(rows)["month"]) == ["2024-02", "2024-03", "2024-04"]
