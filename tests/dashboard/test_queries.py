"""The dashboard's spend reads over the daily rollup, on the demo-like warehouse (see conftest).

Every host bills one Usage line item per hour: 24 a day at its hourly price, so each day's
cost is 24 x the price in conftest's table, worked out here by hand.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from warehouse.queries.spend_rollup import daily_cost_rollup, spend_window
from warehouse.rollups import EVERYTHING, refresh_rollups
from warehouse.schema import cost_line_items

SEP_29, SEP_30 = dt.date(2024, 9, 29), dt.date(2024, 9, 30)
DAY_COST = {  # team -> 24 x hourly price
    "nlp": Decimal("21.957642") * 24,  # 526.983408
    "vision": Decimal("0.706832255") * 24,  # 16.963974120
    "research": Decimal("88.4899999025753") * 24,  # 2123.7599976618072
    "recsys": Decimal("0.526") * 24,  # 12.624
}


def _rows(engine: Engine, *, team_tag: str, start: dt.date = SEP_29) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = daily_cost_rollup(connection, start=start, end=SEP_30, team_tag=team_tag)
    return sorted(rows, key=lambda row: (row["day"], str(row["team"])))


def test_spend_window_reads_days_providers_and_currencies(
    demo_like_url: str, engine: Engine
) -> None:
    with engine.connect() as connection:
        window = spend_window(connection)
    assert window == {
        "first_day": SEP_29,
        "last_day": SEP_30,
        "providers": ["AWS", "Google Cloud", "Microsoft"],
        "currencies": ["USD"],
    }


def test_spend_window_is_none_without_billing(empty_url: str, engine: Engine) -> None:
    with engine.connect() as connection:
        assert spend_window(connection) is None


def test_daily_rows_per_team_are_24_hours_at_each_price(demo_like_url: str, engine: Engine) -> None:
    rows = _rows(engine, team_tag="team")
    assert [(row["day"], row["team"]) for row in rows] == [
        (day, team) for day in (SEP_29, SEP_30) for team in sorted(DAY_COST)
    ]
    for row in rows:
        assert row["billed"] == row["effective"] == DAY_COST[str(row["team"])]
        assert row["line_items"] == 24
        assert row["usage"] is True
        assert row["currency"] == "USD"
    one_day = _rows(engine, team_tag="team", start=SEP_30)
    assert [row["day"] for row in one_day] == [SEP_30] * 4


def test_another_team_key_reads_the_line_items_with_the_same_answer(
    demo_like_url: str, engine: Engine
) -> None:
    from_rollup = _rows(engine, team_tag="team")
    # The rollup now holds the owner tag: asking for `team` must not return owner values.
    with engine.begin() as connection:
        refresh_rollups(connection, EVERYTHING, team_tag="owner")
    assert _rows(engine, team_tag="team") == from_rollup
    by_owner = _rows(engine, team_tag="owner")
    owners = ["alice@example.com", "chen@example.com", "dana@example.com", "farah@example.com"]
    assert sorted({row["team"] for row in by_owner}) == owners
    total = sum((row["billed"] for row in by_owner), Decimal(0))
    assert total == 2 * sum(DAY_COST.values(), Decimal(0))  # 5360.6627547636144, 48 hours


def test_mixed_currencies_come_most_line_items_first(empty_url: str, engine: Engine) -> None:
    # USD: 2 line items; EUR: 3 (Microsoft 2, Google Cloud 1); one item with neither provider
    # nor currency. EUR is the default view; providers are alphabetical, nulls left out.
    at = dt.datetime(2024, 9, 29, 6, tzinfo=dt.UTC)
    items = [
        ("AWS", "USD"),
        ("AWS", "USD"),
        ("Microsoft", "EUR"),
        ("Microsoft", "EUR"),
        ("Google Cloud", "EUR"),
        (None, None),
    ]
    with engine.begin() as connection:
        connection.execute(
            cost_line_items.insert(),
            [
                {
                    "provider_name": provider,
                    "billing_currency": currency,
                    "billed_cost": Decimal("1.00"),
                    "charge_category": "Usage",
                    "charge_period_start": at,
                    "x_source": "test",
                    "x_load_id": "l1",
                }
                for provider, currency in items
            ],
        )
        refresh_rollups(connection, EVERYTHING, team_tag="team")
    with engine.connect() as connection:
        window = spend_window(connection)
    assert window == {
        "first_day": SEP_29,
        "last_day": SEP_29,
        "providers": ["AWS", "Google Cloud", "Microsoft"],
        "currencies": ["EUR", "USD"],
    }
