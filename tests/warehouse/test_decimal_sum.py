"""decimal_sum folds values in batches on SQLite (``DecimalSumAggregate``); the total must be the
one adding every value as it comes gives, digit for digit, whichever side of a batch it falls."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warehouse.schema import cost_line_items
from warehouse.types import EXACT_SUM, FOLD_EVERY, DecimalSumAggregate, decimal_sum

# Line item costs as the exports write them: Azure's 26 decimal places, AWS's 6 to 10, a
# credit, a whole number, and nulls (no cost) in between.
AZURE = "0.10000000000000000000000001"
CREDIT = "-0.05"
ROUND = "2.50"


def _one_by_one(values: list[Any]) -> str | None:
    """The aggregate as it was before batching: one exact addition per non-null value."""
    total, seen = Decimal(0), False
    for value in values:
        if value is not None:
            seen = True
            total = EXACT_SUM.add(total, Decimal(value if isinstance(value, str) else str(value)))
    return format(total, "f") if seen else None


def _aggregate(values: list[Any]) -> str | None:
    aggregate = DecimalSumAggregate()
    for value in values:
        aggregate.step(value)
    return aggregate.finalize()


def test_batched_sum_equals_one_by_one_across_batches() -> None:
    # 6000 x 1e-26 = 6e-23 and 3000 x -0.05 = -150, so 600.00000000000000000000006 - 150 + 2.5.
    values: list[Any] = [AZURE] * 6000 + [None] * 7 + [CREDIT] * 3000 + [ROUND]
    assert len(values) > 2 * FOLD_EVERY  # two full batches and a partial one
    expected = "452.50000000000000000000006000"  # the sum keeps the finest scale, 26 places
    assert _aggregate(values) == expected == _one_by_one(values)


def test_numbers_sqlite_hands_over_as_int_or_float_sum_like_their_text() -> None:
    # A raw writer can leave INTEGER or REAL in the TEXT column; str() is what was summed.
    values: list[Any] = [3, 0.1, "0.2", None, -1]
    assert _aggregate(values) == "2.3" == _one_by_one(values)


def test_no_value_or_only_nulls_is_null_like_sql_sum() -> None:
    assert _aggregate([]) is None
    assert _aggregate([None] * (FOLD_EVERY + 1)) is None


def test_zero_total_after_batches_is_zero_not_null() -> None:
    values = ["1.25", "-1.25"] * FOLD_EVERY
    assert _aggregate(values) == "0.00" == _one_by_one(values)


def test_decimal_sum_over_more_rows_than_a_batch(engine: Engine) -> None:
    # The same numbers through SQL, on SQLite (the aggregate) and PostgreSQL (NUMERIC sum).
    start = dt.datetime(2024, 9, 1, tzinfo=dt.UTC)
    values = [AZURE] * 6000 + [None] * 7 + [CREDIT] * 3000 + [ROUND]
    rows = [
        {
            "billed_cost": None if v is None else Decimal(v),
            "x_source": "t",
            "x_load_id": "l",
            "charge_period_start": start,
        }
        for v in values
    ]
    with engine.begin() as connection:
        connection.execute(cost_line_items.insert(), rows)
    with engine.connect() as connection:
        total = connection.scalar(sa.select(decimal_sum(cost_line_items.c.billed_cost)))
        nothing = connection.scalar(
            sa.select(decimal_sum(cost_line_items.c.billed_cost)).where(
                cost_line_items.c.billed_cost.is_(None)
            )
        )
    assert total == Decimal("452.50000000000000000000006")
    assert format(total, "f") == "452.50000000000000000000006000"
    assert nothing is None
