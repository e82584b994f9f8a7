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
    assert row["latest_period"] == "2024-09"
    assert row["latest_period_status"] == "estimated"
    assert (row["final_periods"], row["estimated_periods"]) == (1, 1)


def test_storage_classes_use_the_prices_table_before_the_policy_table() -> None:
    inventory = pd.DataFrame(
        [
            ("gcp", "us-central1", "STANDARD", 10 << 30, 5),  # table: 0.02 -> 0.20
            ("aws", "us-east-1", "STANDARD", 10 << 30, 5),  # policy: 0.023 -> 0.23
            ("aws", "us-east-1", "GLACIER", 10 << 30, 5),  # no price anywhere
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
        ("aws", "GLACIER"): (Decimal("0.00"), False),
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
