"""DailyRollupBuilder keeps memory bounded by spilling per-period rows to disk by day: the
spilled result must be exactly what the in-memory one is (sums, scales, distinct-period
usage_hours, line counts), and its temporary files must go away."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from collectors.focus_files import FocusFile
from warehouse.rollup_build import DailyRollupBuilder

UTC = dt.UTC
TIME = pa.timestamp("us", tz="UTC")


def _batch(rows: list[tuple[str, int, int, str]]) -> pa.RecordBatch:
    """(resource, day of Sept 2024, hour, billed cost) -> a batch of line-item columns."""
    starts = [dt.datetime(2024, 9, day, hour, tzinfo=UTC) for _, day, hour, _ in rows]
    return pa.RecordBatch.from_pydict(
        {
            "billing_account_id": ["A"] * len(rows),
            "billing_period_start": pa.array(
                [dt.datetime(2024, 9, 1, tzinfo=UTC)] * len(rows), TIME
            ),
            "resource_id": [resource for resource, *_ in rows],
            "charge_period_start": pa.array(starts, TIME),
            "charge_period_end": pa.array([s + dt.timedelta(hours=1) for s in starts], TIME),
            "billed_cost": [cost for *_, cost in rows],
            "tags": ['{"team": "nlp"}'] * len(rows),
        }
    )


def _by_key(tables: list[pa.Table]) -> dict[tuple[str, int], tuple[str, int, float]]:
    table = pa.concat_tables(tables)
    return {
        (row["resource_id"], row["day"].day): (
            row["billed_cost"],
            row["line_count"],
            row["usage_hours"],
        )
        for row in table.to_pylist()
    }


def test_spilled_rollup_is_exact_and_cleans_up() -> None:
    # Three batches; with spill_rows=2 every batch's per-period rows go to disk.
    batches = [
        _batch([("i-1", 1, 0, "1.10"), ("i-1", 1, 1, "2"), ("i-2", 2, 0, "0.005")]),
        # same hour of i-1 on day 1 again: its hour counts once in usage_hours
        _batch([("i-1", 1, 0, "0.90"), ("i-2", 2, 5, "1.000"), ("i-1", 3, 0, "7")]),
        _batch([("i-2", 2, 0, "-0.005"), ("i-1", 3, 1, "0.5")]),
    ]
    spilling = DailyRollupBuilder(team_tag="team", source="s", spill_rows=2)
    in_memory = DailyRollupBuilder(team_tag="team", source="s")
    for batch in batches:
        spilling.add(batch)
        in_memory.add(batch)
    assert spilling.spilled, "the small limit should have spilled"
    spill_dir = Path(spilling._spill_dir.name)  # type: ignore[union-attr]
    assert spill_dir.exists()

    spilled = list(spilling.results())
    kept = list(in_memory.results())

    assert len(spilled) == 3  # one table per day: 1, 2 and 3 September
    assert len(kept) == 1
    expected = {
        # 1.10 + 2 + 0.90 = 4.00 (scale of the most precise value); hours 0 and 1 -> 2 h
        ("i-1", 1): ("4.00", 3, 2.0),
        # 0.005 + 1.000 - 0.005 = 1.000; hours 0 and 5 -> 2 h
        ("i-2", 2): ("1.000", 3, 2.0),
        ("i-1", 3): ("7.5", 2, 2.0),
    }
    assert _by_key(spilled) == expected
    assert _by_key(kept) == expected
    assert not spill_dir.exists()


def test_spilled_rollup_of_a_real_sample_equals_the_in_memory_one(shared_data: Path) -> None:
    path = shared_data / "focus" / "sample-data" / "focus_sample.csv"
    spilling = DailyRollupBuilder(team_tag="team", source="s", spill_rows=500)
    in_memory = DailyRollupBuilder(team_tag="team", source="s")
    for batch in FocusFile(str(path)):
        spilling.add(batch)
        in_memory.add(batch)
    assert spilling.spilled
    spilled = pa.concat_tables(list(spilling.results()))
    kept = pa.concat_tables(list(in_memory.results()))
    order = [(name, "ascending") for name in kept.schema.names]
    assert spilled.num_rows == kept.num_rows > 0
    assert spilled.sort_by(order).equals(kept.sort_by(order))
    assert spilling._spill_dir is None  # results() removed its files


def test_a_day_reduced_a_slot_at_a_time_adds_up_exactly() -> None:
    """After a spill a day is reduced in steps (quarter-day slots, a few at a time) whose
    group totals are added: hours repeated across batches still count once, sums stay exact."""
    batches = [
        _batch([("i-1", 4, 0, "0.10"), ("i-1", 4, 7, "0.20"), ("i-2", 4, 23, "5")]),
        # hour 7 of i-1 again (another line item of the same hour), and later slots
        _batch([("i-1", 4, 7, "0.05"), ("i-1", 4, 13, "0.300"), ("i-1", 4, 19, "-0.15")]),
        _batch([("i-2", 4, 6, "1.25"), ("i-1", 5, 2, "9")]),
    ]
    spilling = DailyRollupBuilder(team_tag="team", source="s", spill_rows=2)
    for batch in batches:
        spilling.add(batch)
    assert spilling.spilled
    expected = {
        # 0.10 + 0.20 + 0.05 + 0.300 - 0.15 = 0.500; hours 0, 7, 13, 19 -> 4 h from 5 lines
        ("i-1", 4): ("0.500", 5, 4.0),
        # 5 + 1.25 = 6.25; hours 6 and 23 -> 2 h
        ("i-2", 4): ("6.25", 2, 2.0),
        ("i-1", 5): ("9", 1, 1.0),
    }
    assert _by_key(list(spilling.results())) == expected
