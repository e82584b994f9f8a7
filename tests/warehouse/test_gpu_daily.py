"""gpu_daily: load_gpu_hourly keeps the per-day GPU rollup equal to the hours it summarizes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from spendwatch.cli import app
from warehouse.errors import InputError
from warehouse.gpu_rollup_daily import rebuild_gpu_daily
from warehouse.load_gpu import load_gpu_hourly
from warehouse.queries.gpu_fleet import gpu_host_days
from warehouse.schema import gpu_daily, gpu_hourly

# 22:00 UTC on the 18th: hours 0-1 fall on the 18th, hours 2+ on the 19th.
H0 = dt.datetime(2026, 11, 18, 22, tzinfo=dt.UTC)
DAY1, DAY2 = dt.date(2026, 11, 18), dt.date(2026, 11, 19)


def row(
    hour: int,
    *,
    gpu: str = "GPU-1",
    util: float | None = 10.0,
    source: str = "dcgm",
    resource_id: str = "i-0abc",
) -> dict[str, Any]:
    return {
        "source": source,
        "provider": "aws",
        "resource_id": resource_id,
        "gpu_id": gpu,
        "hour": H0 + dt.timedelta(hours=hour),
        "util_avg": util,
        "util_max": None if util is None else util + 5,
        "sample_count": 240,
    }


def daily(engine: Engine) -> list[tuple[Any, ...]]:
    column = gpu_daily.c
    query = sa.select(
        column.source,
        column.resource_id,
        column.day,
        column.gpu_hours,
        column.util_sum,
        column.util_samples,
        column.util_max,
    ).order_by(column.source, column.resource_id, column.day)
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(query)]


def test_load_builds_one_row_per_source_resource_and_utc_day(engine: Engine) -> None:
    with engine.begin() as connection:
        load_gpu_hourly(
            connection,
            [
                row(0, util=20.0),
                row(1, util=40.0),
                row(0, gpu="GPU-2", util=None),  # MIG: bought, no utilization
                row(2, util=30.0),
                row(2, util=50.0, source="nvidia_smi_exporter"),
            ],
        )
    assert daily(engine) == [
        ("dcgm", "i-0abc", DAY1, 3, 60.0, 2, 45.0),  # 20 + 40; max(25, 45)
        ("dcgm", "i-0abc", DAY2, 1, 30.0, 1, 35.0),
        ("nvidia_smi_exporter", "i-0abc", DAY2, 1, 50.0, 1, 55.0),
    ]


def test_reloading_an_hour_recomputes_its_day_instead_of_adding(engine: Engine) -> None:
    with engine.begin() as connection:
        load_gpu_hourly(connection, [row(0, util=20.0), row(1, util=40.0), row(2, util=30.0)])
    with engine.begin() as connection:
        # Hour 1 again (the lookback re-reads it), now complete: 40 -> 70.
        load_gpu_hourly(connection, [row(1, util=70.0)])
    assert daily(engine) == [
        ("dcgm", "i-0abc", DAY1, 2, 90.0, 2, 75.0),
        ("dcgm", "i-0abc", DAY2, 1, 30.0, 1, 35.0),
    ]
    with engine.begin() as connection:
        assert rebuild_gpu_daily(connection) == 2
    assert daily(engine)[0] == ("dcgm", "i-0abc", DAY1, 2, 90.0, 2, 75.0)


def test_a_refused_load_leaves_the_rollup_as_it_was(engine: Engine) -> None:
    with engine.begin() as connection:
        load_gpu_hourly(connection, [row(0, util=20.0)])
    with pytest.raises(InputError, match="duplicate key"), engine.begin() as connection:
        load_gpu_hourly(connection, [row(0, util=99.0), row(0, util=98.0)])
    assert daily(engine) == [("dcgm", "i-0abc", DAY1, 1, 20.0, 1, 25.0)]


def test_host_days_sum_sources_and_filter_days_and_provider(engine: Engine) -> None:
    with engine.begin() as connection:
        load_gpu_hourly(
            connection,
            [
                row(0, util=20.0),
                row(0, gpu="GPU-2", util=None),
                row(1, util=40.0, source="nvidia_smi_exporter"),
                row(2, util=30.0),
                row(2, util=10.0, resource_id="i-0def"),
            ],
        )
    with engine.connect() as connection:
        both = gpu_host_days(connection, start=DAY1, end=DAY2)
        second = gpu_host_days(connection, start=DAY2, end=DAY2, provider="aws")
        none = gpu_host_days(connection, start=DAY1, end=DAY2, provider="gcp")
    assert both == [
        {
            "resource_id": "i-0abc",
            "provider": "aws",
            "day": DAY1,
            "gpu_hours": 3,  # dcgm 2 + nvidia_smi_exporter 1
            "util_sum": 60.0,
            "util_samples": 2,
        },
        {
            "resource_id": "i-0abc",
            "provider": "aws",
            "day": DAY2,
            "gpu_hours": 1,
            "util_sum": 30.0,
            "util_samples": 1,
        },
        {
            "resource_id": "i-0def",
            "provider": "aws",
            "day": DAY2,
            "gpu_hours": 1,
            "util_sum": 10.0,
            "util_samples": 1,
        },
    ]
    assert second == both[1:]
    assert none == []


def test_rebuild_command_builds_the_rollup_for_raw_written_hours(
    db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows written around the loader (as the bench generator does) are not in the rollup yet.
    with engine.begin() as connection:
        connection.execute(gpu_hourly.insert(), [row(0, util=20.0), row(2, util=30.0)])
    assert daily(engine) == []
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    done = CliRunner().invoke(app, ["db", "rebuild-rollups"])
    assert done.exit_code == 0, done.output
    assert "2 daily GPU rollup row(s)" in done.stdout
    assert daily(engine) == [
        ("dcgm", "i-0abc", DAY1, 1, 20.0, 1, 25.0),
        ("dcgm", "i-0abc", DAY2, 1, 30.0, 1, 35.0),
    ]
