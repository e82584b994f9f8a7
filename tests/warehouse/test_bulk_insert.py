"""The bulk writer on both dialects: every kind of text value and time survives exactly.

On PostgreSQL the rows go through COPY's CSV, which the writer builds itself (quoting only
what must be quoted), so these are the values that could go wrong there."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import warehouse.bulk_insert as bulk_insert_module
from warehouse.bulk_insert import bulk_insert, line_item_writer
from warehouse.schema import cost_line_items

T = cost_line_items

TEXTS = [
    "plain",
    "a,b",  # the delimiter
    'say "hi"',  # quotes, doubled inside a quoted value
    "line one\nline two",
    "carriage\rreturn",
    "",  # the empty string is not NULL
    None,
    "back\\slash \\N \\.",  # COPY's text-format escapes mean nothing in CSV
    "ünïcødé ☁",
    " padded ",
]


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, us, tzinfo=dt.UTC)


def test_text_values_round_trip_exactly(engine: Engine) -> None:
    n = len(TEXTS)
    rows = pa.table(
        {
            "charge_description": pa.array(TEXTS, pa.string()),
            "billed_cost": pa.array([f"{i}.0000000001" for i in range(n)], pa.string()),
            "charge_period_start": pa.array(
                [_utc(2024, 9, 1, i) for i in range(n)], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    with engine.begin() as connection:
        bulk_insert(connection, T, rows, constants={"x_source": "test", "x_load_id": "L,1"})
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(T.c.charge_description, T.c.billed_cost, T.c.x_load_id).order_by(
                T.c.charge_period_start
            )
        ).all()
    assert [row[0] for row in stored] == TEXTS
    assert [row[1] for row in stored] == [Decimal(f"{i}.0000000001") for i in range(n)]
    assert {row[2] for row in stored} == {"L,1"}


def test_times_keep_their_microseconds_and_whole_seconds(engine: Engine) -> None:
    """A column with sub-second values is written with microseconds on every row; one with
    none is written without them. Both read back as the same instants."""
    with_micros = [_utc(2024, 9, 1, 0, 0, 0, 500_000), _utc(2024, 9, 1, 0, 0, 1), None]
    whole = [_utc(2024, 9, 30, 23, 59, 59), _utc(2024, 10, 1), None]
    rows = pa.table(
        {
            "charge_period_start": pa.array(with_micros, pa.timestamp("us", tz="UTC")),
            "charge_period_end": pa.array(whole, pa.timestamp("us", tz="UTC")),
            "billed_cost": pa.array(["1", "2", "3"], pa.string()),
        }
    )
    with engine.begin() as connection:
        bulk_insert(connection, T, rows, constants={"x_source": "test", "x_load_id": "L"})
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(T.c.charge_period_start, T.c.charge_period_end).order_by(T.c.billed_cost)
        ).all()
    assert [tuple(row) for row in stored] == list(zip(with_micros, whole, strict=True))


def test_line_items_written_in_runs_all_arrive(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite collects batches into runs (here of 3 rows) and inserts each in index order; a
    run is flushed when full, on pause() and at the end, and batches with different columns
    share a run. Every row must arrive once, whatever the order it went in."""
    monkeypatch.setattr(bulk_insert_module, "_SQLITE_RUN_ROWS", 3)
    start = _utc(2024, 9, 1)
    batches = [
        pa.RecordBatch.from_pydict(
            {
                "resource_id": [f"i-{(7 * n) % 5}" for n in range(first, first + size)],
                "charge_period_start": pa.array(
                    [start + dt.timedelta(hours=n) for n in range(first, first + size)],
                    pa.timestamp("us", tz="UTC"),
                ),
                "billed_cost": [f"{n}.01" for n in range(first, first + size)],
                **({"region_id": ["us-east-1"] * size} if index % 2 else {}),
            }
        )
        for index, (first, size) in enumerate([(0, 2), (2, 2), (4, 4), (8, 1), (9, 2)])
    ]
    with engine.begin() as connection, line_item_writer(connection) as writer:
        for index, batch in enumerate(batches):
            writer.write(batch, load_id="L", source="test")
            if index == 3:
                writer.pause()
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(T.c.billed_cost, T.c.resource_id, T.c.region_id).order_by(
                T.c.charge_period_start
            )
        ).all()
    # 11 rows, n = 0..10, each once with its own cost; a region only on the rows of the
    # second and fourth batches (n = 2, 3 and 8)
    assert [row[0] for row in stored] == [Decimal(f"{n}.01") for n in range(11)]
    assert [row[1] for row in stored] == [f"i-{(7 * n) % 5}" for n in range(11)]
    assert [n for n, row in enumerate(stored) if row[2] == "us-east-1"] == [2, 3, 8]
