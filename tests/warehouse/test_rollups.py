"""cost_daily stays equal to a GROUP BY over the line items (SQLite and PostgreSQL): after an
ingest, a restated month, a Cost Explorer day-window replace and a failed load; a rebuild gives
what the loads gave; credits are rolled up but never counted as usage spend."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from collectors.focus_files import FocusFile
from spendwatch.cli import app
from warehouse.load import DayWindowReplace, load_focus_batches
from warehouse.queries.gpu import hourly_effective_costs
from warehouse.queries.spend import daily_spend
from warehouse.rollups import EVERYTHING, refresh_rollups
from warehouse.schema import ROLLUP_GROUP_COLUMNS, cost_daily, cost_line_items

UTC = dt.UTC
TIME = pa.timestamp("us", tz="UTC")
SEPT = dt.datetime(2024, 9, 1, tzinfo=UTC)
OCT = dt.datetime(2024, 10, 1, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)
KEY = ("day", "billing_period_start", *ROLLUP_GROUP_COLUMNS, "x_source", "team")


def at(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2024, 9, day, hour, tzinfo=UTC)


def line(
    resource: str | None,
    start: dt.datetime,
    cost: str | None,
    *,
    hours: int = 1,
    account: str = "A",
    category: str = "Usage",
    charge_class: str | None = None,
    service: str = "Amazon Elastic Compute Cloud",
    tags: str | None = '{"team": "nlp"}',
) -> dict[str, Any]:
    return {
        "billing_account_id": account,
        "sub_account_id": account + "-sub",
        "billing_period_start": start.replace(day=1, hour=0),
        "billing_currency": "USD",
        "provider_name": "AWS",
        "service_name": service,
        "service_category": "Compute",
        "region_id": "us-east-1",
        "resource_id": resource,
        "charge_category": category,
        "charge_class": charge_class,
        "charge_period_start": start,
        "charge_period_end": start + HOUR * hours,
        "billed_cost": cost,
        "effective_cost": cost,
        "list_cost": cost,
        "tags": tags,
    }


def batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """Rows in the loader's batch format: money as decimal text, UTC timestamps, JSON text."""
    times = {"billing_period_start", "charge_period_start", "charge_period_end"}
    return pa.RecordBatch.from_pydict(
        {
            name: pa.array([row[name] for row in rows], TIME if name in times else pa.string())
            for name in rows[0]
        }
    )


def rollup(engine: Engine) -> list[tuple[Any, ...]]:
    """cost_daily as comparable tuples (money as its exact text, hours to 6 places)."""
    c = cost_daily.c
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                *(c[k] for k in KEY),
                c.billed_cost,
                c.effective_cost,
                c.list_cost,
                c.line_count,
                c.usage_hours,
            )
        ).all()
    return sorted((_comparable(row) for row in rows), key=repr)


def grouped_line_items(engine: Engine, *, team_tag: str = "team") -> list[tuple[Any, ...]]:
    """The same rows worked out from the line items in Python (an independent GROUP BY)."""
    with engine.connect() as connection:
        items = connection.execute(sa.select(cost_line_items)).mappings().all()
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for item in items:
        start = item["charge_period_start"]
        day = start.replace(hour=0, minute=0, second=0, microsecond=0) if start else None
        team = (item["tags"] or {}).get(team_tag)
        key = (day, *(item[k] for k in KEY[1:-1]), team)
        groups[key].append(item)
    expected = []
    for key, members in groups.items():
        sums = [
            _sum(m[name] for m in members)
            for name in ("billed_cost", "effective_cost", "list_cost")
        ]
        periods = {
            (m["charge_period_start"], m["charge_period_end"])
            for m in members
            if m["charge_period_end"] is not None
        }
        hours = sum((end - start) / HOUR for start, end in periods) if periods else None
        expected.append(_comparable((*key, *sums, len(members), hours)))
    return sorted(expected, key=repr)


def _sum(values: Iterator[Decimal | None]) -> Decimal | None:
    present = [v for v in values if v is not None]
    return sum(present, Decimal(0)) if present else None  # decimal_sum's exponent rule


def _comparable(row: Any) -> tuple[Any, ...]:
    *keys, billed, effective, listed, count, hours = tuple(row)
    money = [None if m is None else format(m, "f") for m in (billed, effective, listed)]
    return (*keys, *money, int(count), None if hours is None else round(float(hours), 6))


def test_ingest_of_the_real_sample_rolls_up_exactly(engine: Engine, shared_data: Path) -> None:
    sample = shared_data / "focus" / "sample-data" / "focus_sample.csv"
    load_focus_batches(engine, FocusFile(str(sample)))
    rows = rollup(engine)
    assert rows == grouped_line_items(engine)
    # The README's exact sums survive the rollup.
    billed = sum((Decimal(r[len(KEY)]) for r in rows if r[len(KEY)] is not None), Decimal(0))
    assert billed == Decimal("20.52022672899")
    assert sum(r[len(KEY) + 3] for r in rows) == 1000


def test_restated_month_replaces_only_its_account(engine: Engine) -> None:
    september = [line("i-1", at(d, h), "1.50") for d in (1, 2) for h in (0, 1)]
    other = [line("i-9", at(1), "7", account="B")]
    load_focus_batches(engine, [batch(september + other)])
    # Account A re-delivers September: one hour corrected, a credit added, day 2 gone.
    restated = [
        line("i-1", at(1, 0), "1.25"),
        line("i-1", at(1, 1), "1.500"),
        line("i-1", at(1, 5), "-2", category="Credit"),
    ]
    load_focus_batches(engine, [batch(restated)])
    rows = rollup(engine)
    assert rows == grouped_line_items(engine)
    usage = [r for r in rows if r[KEY.index("charge_category")] == "Usage"]
    by_account = {(r[KEY.index("billing_account_id")], r[0].day): r[len(KEY)] for r in usage}
    assert by_account == {("A", 1): "2.750", ("B", 1): "7"}


def test_day_window_replace_rolls_up_only_its_days(engine: Engine) -> None:
    source = "aws-cost-explorer"
    first = [line(None, at(d), "10.00", hours=24, service="S3") for d in (1, 2, 3)]
    load_focus_batches(
        engine, [batch(first)], source=source, replace_days=DayWindowReplace("A", at(1), at(4))
    )
    again = [line(None, at(d), "12.00", hours=24, service="S3") for d in (2, 3)]
    load_focus_batches(
        engine, [batch(again)], source=source, replace_days=DayWindowReplace("A", at(2), at(4))
    )
    rows = rollup(engine)
    assert rows == grouped_line_items(engine)
    assert [(r[0].day, r[len(KEY)]) for r in sorted(rows)] == [
        (1, "10.00"),
        (2, "12.00"),
        (3, "12.00"),
    ]
    # A window that does not start at midnight: its first day is read back from the table.
    late = [line(None, at(3, 12), "1.5", hours=12, service="EC2")]
    load_focus_batches(
        engine, [batch(late)], source=source, replace_days=DayWindowReplace("A", at(3, 12), at(4))
    )
    assert rollup(engine) == grouped_line_items(engine)


def test_failed_load_leaves_the_rollup_unchanged(engine: Engine) -> None:
    load_focus_batches(engine, [batch([line("i-1", at(1), "3")])])
    before = rollup(engine)

    def broken() -> Iterator[pa.RecordBatch]:
        yield batch([line("i-1", at(1), "5"), line("i-2", at(2), "4")])
        raise ValueError("cell 7 of row 3 is not a number")

    with pytest.raises(ValueError, match="not a number"):
        load_focus_batches(engine, broken())
    assert rollup(engine) == before == grouped_line_items(engine)


def test_rebuild_equals_incremental_and_follows_the_team_key(engine: Engine) -> None:
    tags = '{"team": "nlp", "cost-center": "cc-7"}'
    load_focus_batches(engine, [batch([line("i-1", at(1, h), "0.1", tags=tags) for h in range(3)])])
    load_focus_batches(engine, [batch([line("i-2", at(2), "0.2", account="B", tags=None)])])
    incremental = rollup(engine)
    with engine.begin() as connection:
        refresh_rollups(connection, EVERYTHING, team_tag="team")
    assert rollup(engine) == incremental == grouped_line_items(engine)
    with engine.begin() as connection:
        refresh_rollups(connection, EVERYTHING, team_tag="cost-center")
    assert rollup(engine) == grouped_line_items(engine, team_tag="cost-center")
    # Later loads keep the key the rollup was rebuilt with.
    load_focus_batches(engine, [batch([line("i-3", at(3), "1", account="C", tags=tags)])])
    assert rollup(engine) == grouped_line_items(engine, team_tag="cost-center")


def test_hours_count_distinct_periods_and_scales_follow_decimal_sum(engine: Engine) -> None:
    rows = [
        line("i-1", at(1, 0), "1.5"),
        line("i-1", at(1, 0), "0.25"),  # a second SKU in the same hour: still one hour
        line("i-1", at(1, 1), "2"),
        line("i-1", at(1, 2), "0.0000001"),
        line("i-1", at(1, 3), None, hours=2),
    ]
    load_focus_batches(engine, [batch(rows)])
    [row] = rollup(engine)
    assert row == grouped_line_items(engine)[0]
    assert row[len(KEY) :] == ("3.7500001", "3.7500001", "3.7500001", 5, 5.0)


def test_credits_are_rolled_up_but_are_never_usage_spend(engine: Engine) -> None:
    rows = [line("i-1", at(1, h), "2.00", hours=1) for h in range(24)] + [
        line("i-1", at(1, 0), "-10.00", category="Credit", hours=24),
        line("i-1", at(1, 3), "-2.00", charge_class="Correction"),
    ]
    load_focus_batches(engine, [batch(rows)])
    assert rollup(engine) == grouped_line_items(engine)
    categories = {
        (r[KEY.index("charge_category")], r[KEY.index("charge_class")]) for r in rollup(engine)
    }
    assert categories == {("Usage", None), ("Credit", None), ("Usage", "Correction")}
    with engine.connect() as connection:
        costs = hourly_effective_costs(connection, start=at(1), end=at(2))
        daily = daily_spend(connection, start=at(1), end=at(2))
    assert costs.loc[0, "effective_cost"] == Decimal("48.00")
    assert costs.loc[0, "hours_billed"] == 24.0
    assert daily["cost"].tolist() == [Decimal("48.00")]


def test_rebuild_rollups_command_switches_the_team_key_for_costs(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    monkeypatch.delenv("SPENDWATCH_CONFIG", raising=False)
    tags = '{"team": "nlp", "squad": "vision"}'
    load_focus_batches(engine, [batch([line("i-1", at(1), "4.5", tags=tags)])])
    runner = CliRunner()

    def costs_by_team() -> list[dict[str, str]]:
        result = runner.invoke(
            app, ["costs", "--group-by", "team", "--from", "2024-09-01", "--format", "json"]
        )
        assert result.exit_code == 0, result.output
        parsed: list[dict[str, str]] = json.loads(result.stdout)
        return parsed

    assert [row["team"] for row in costs_by_team()] == ["nlp"]
    monkeypatch.setenv("SPENDWATCH_TAGS__TEAM", "squad")
    # Before the rebuild the rollup holds the old key: costs answers from the line items.
    assert [row["team"] for row in costs_by_team()] == ["vision"]
    done = runner.invoke(app, ["db", "rebuild-rollups"])
    assert done.exit_code == 0, done.output
    assert "rebuilt 1 daily rollup row(s) with team tag 'squad'" in done.stdout
    assert rollup(engine) == grouped_line_items(engine, team_tag="squad")
    assert costs_by_team() == [
        {"team": "vision", "billed_cost": "4.5", "effective_cost": "4.5", "currency": "USD"}
    ]
