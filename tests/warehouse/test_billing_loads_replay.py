"""billing_loads replayed from collector_runs equals the line-item GROUP BY (SQLite and
PostgreSQL) after each of: two accounts' first deliveries, a restated month, two overlapping
Cost Explorer day windows, an empty window and a failed load; and falls back to the scan when a
load was not recorded."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warehouse.load import DayWindowReplace, load_focus_batches
from warehouse.queries.billing_loads import (
    _replay_billing_loads,
    _scan_billing_loads,
    billing_loads,
)
from warehouse.schema import collector_runs

UTC = dt.UTC
TIME = pa.timestamp("us", tz="UTC")
SEPT = dt.datetime(2024, 9, 1, tzinfo=UTC)
OCT = dt.datetime(2024, 10, 1, tzinfo=UTC)
NOV = dt.datetime(2024, 11, 1, tzinfo=UTC)
CE = "aws-cost-explorer"


def at(month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, tzinfo=UTC)


def rows(account: str | None, starts: list[dt.datetime], *, cost: str = "1.00") -> pa.RecordBatch:
    """One line item per charge start, in the loader's batch format."""
    periods = [s.replace(day=1, hour=0) for s in starts]
    ends = [OCT if p == SEPT else NOV for p in periods]
    return pa.RecordBatch.from_pydict(
        {
            "provider_name": pa.array(["AWS"] * len(starts), pa.string()),
            "billing_account_id": pa.array([account] * len(starts), pa.string()),
            "billing_period_start": pa.array(periods, TIME),
            "billing_period_end": pa.array(ends, TIME),
            "billing_currency": pa.array(["USD"] * len(starts), pa.string()),
            "charge_period_start": pa.array(starts, TIME),
            "charge_period_end": pa.array([s + dt.timedelta(hours=1) for s in starts], TIME),
            "billed_cost": pa.array([cost] * len(starts), pa.string()),
            "effective_cost": pa.array([cost] * len(starts), pa.string()),
        }
    )


def replay_and_scan(engine: Engine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with engine.connect() as connection:
        replayed = _replay_billing_loads(connection)
        scanned = _scan_billing_loads(connection)
        served = billing_loads(connection)
    assert replayed is not None, "every load was recorded, so the replay must answer"
    assert sorted(served, key=repr) == sorted(replayed, key=repr)
    return sorted(replayed, key=repr), sorted(scanned, key=repr)


def test_replay_equals_scan_through_restatements_and_day_windows(engine: Engine) -> None:
    sept_a = [at(9, d, h) for d in (1, 15, 30) for h in (0, 23)]  # 6 rows, last 30th 23:00
    first = load_focus_batches(engine, [rows("A", sept_a), rows("A", [at(10, 2)])])
    load_focus_batches(engine, [rows("B", [at(9, 3), at(9, 4)]), rows(None, [at(9, 5)])])
    replayed, scanned = replay_and_scan(engine)
    assert replayed == scanned
    assert len(replayed) == 4  # A Sept, A Oct, B Sept, (no account) Sept

    # A restated September for A: replaces A/Sept of the first load, keeps its October.
    restated = load_focus_batches(engine, [rows("A", [at(9, 2), at(9, 29, 5)], cost="2.00")])
    replayed, scanned = replay_and_scan(engine)
    assert replayed == scanned
    a_sept = [
        r for r in replayed if r["billing_account_id"] == "A" and r["billing_period_start"] == SEPT
    ]
    assert [(r["x_load_id"], r["line_items"], r["last_charge"]) for r in a_sept] == [
        (restated.load_id, 2, at(9, 29, 5))
    ]
    assert any(
        r["x_load_id"] == first.load_id and r["billing_period_start"] == OCT for r in replayed
    )

    # Cost Explorer delivers A's 10th and 11th of September by day, 3 hours each ...
    window = DayWindowReplace("A", at(9, 10), at(9, 12))
    ce_1 = load_focus_batches(
        engine,
        [rows("A", [at(9, d, h) for d in (10, 11) for h in (1, 2, 3)])],
        source=CE,
        replace_days=window,
    )
    replayed, scanned = replay_and_scan(engine)
    assert replayed == scanned
    # ... then the 11th and 12th again: the first window keeps only its 10th.
    ce_2 = load_focus_batches(
        engine,
        [rows("A", [at(9, 11, 4), at(9, 12, 6)])],
        source=CE,
        replace_days=DayWindowReplace("A", at(9, 11), at(9, 13)),
    )
    replayed, scanned = replay_and_scan(engine)
    assert replayed == scanned
    by_load = {r["x_load_id"]: (r["line_items"], r["last_charge"]) for r in replayed}
    assert by_load[ce_1.load_id] == (3, at(9, 10, 3))
    assert by_load[ce_2.load_id] == (2, at(9, 12, 6))
    assert by_load[restated.load_id] == (2, at(9, 29, 5))  # focus-file rows are not CE's

    # An empty window still removes CE's 12th; a failed load changes nothing.
    load_focus_batches(
        engine, [], source=CE, replace_days=DayWindowReplace("A", at(9, 12), at(9, 13))
    )
    with pytest.raises(ValueError, match="outside the replace window"):
        load_focus_batches(
            engine,
            [rows("A", [at(9, 20)])],
            source=CE,
            replace_days=DayWindowReplace("A", at(9, 10), at(9, 11)),
        )
    replayed, scanned = replay_and_scan(engine)
    assert replayed == scanned
    by_load = {r["x_load_id"]: (r["line_items"], r["last_charge"]) for r in replayed}
    assert by_load[ce_2.load_id] == (1, at(9, 11, 4))

    # A later restatement of A/Sept from the billing export replaces CE's rows there too.
    final = load_focus_batches(engine, [rows("A", [at(9, 30, 23)])])
    replayed, scanned = replay_and_scan(engine)
    assert replayed == scanned
    assert {r["x_load_id"] for r in replayed if r["billing_account_id"] == "A"} == {
        final.load_id,
        first.load_id,
    }


def test_unrecorded_loads_fall_back_to_the_scan(engine: Engine) -> None:
    load = load_focus_batches(engine, [rows("A", [at(9, 1), at(9, 2)])])
    with engine.begin() as connection:  # an older warehouse: its run has no billing_groups
        connection.execute(
            collector_runs.insert().values(
                source="focus-file",
                status="succeeded",
                started_at=at(9, 3),
                finished_at=at(9, 3),
                rows=1,
                details={"load_id": "old-load"},
            )
        )
    with engine.connect() as connection:
        assert _replay_billing_loads(connection) is None
        served = billing_loads(connection)
    assert [(r["x_load_id"], r["line_items"]) for r in served] == [(load.load_id, 2)]


def test_rows_no_run_accounts_for_fall_back_to_the_scan(engine: Engine) -> None:
    load_focus_batches(engine, [rows("A", [at(9, 1)])])
    other = load_focus_batches(engine, [rows("B", [at(9, 1)])])
    with engine.begin() as connection:  # a raw writer (like the bench) leaves no run behind
        ids = connection.scalars(sa.select(collector_runs.c.id).order_by(collector_runs.c.id)).all()
        connection.execute(collector_runs.delete().where(collector_runs.c.id == ids[-1]))
    with engine.connect() as connection:
        assert _replay_billing_loads(connection) is None
        served = sorted(billing_loads(connection), key=lambda r: r["billing_account_id"])
    assert [r["billing_account_id"] for r in served] == ["A", "B"]
    assert served[1]["x_load_id"] == other.load_id
