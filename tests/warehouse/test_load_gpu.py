"""gpu_hourly loads replace rows with the same (source, resource_id, gpu_id, hour)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from warehouse.errors import InputError
from warehouse.load_gpu import gpu_hourly_rows, load_gpu_hourly

H0 = dt.datetime(2026, 11, 18, tzinfo=dt.UTC)


def row(
    hour: int, *, source: str = "dcgm", util: float | None = 10.0, **extra: Any
) -> dict[str, Any]:
    return {
        "source": source,
        "resource_id": "i-0abc",
        "gpu_id": "GPU-1",
        "hour": H0 + dt.timedelta(hours=hour),
        "util_avg": util,
        "sample_count": 240,
        **extra,
    }


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [
            (r["source"], r["hour"], r["util_avg"], r["power_avg_watts"], r["labels"])
            for r in gpu_hourly_rows(connection)
        ]


def test_reloading_replaces_every_value_column_of_the_same_key(engine: Engine) -> None:
    with engine.begin() as connection:
        assert load_gpu_hourly(connection, [row(0, power_avg_watts=60.0), row(1)]) == 2
    with engine.begin() as connection:
        # Hour 1 again, now complete, and without power: the stale power must not survive.
        load_gpu_hourly(
            connection,
            [row(1, util=55.5, labels={"pod": "p"}), row(2), row(1, source="nvidia_smi_exporter")],
        )
    assert stored(engine) == [
        ("dcgm", H0, 10.0, 60.0, None),
        ("dcgm", H0 + dt.timedelta(hours=1), 55.5, None, {"pod": "p"}),
        ("dcgm", H0 + dt.timedelta(hours=2), 10.0, None, None),
        ("nvidia_smi_exporter", H0 + dt.timedelta(hours=1), 10.0, None, None),
    ]


def test_a_bad_batch_writes_nothing(engine: Engine) -> None:
    with pytest.raises(InputError, match="duplicate key"), engine.begin() as connection:
        load_gpu_hourly(connection, [row(0), row(0)])
    with pytest.raises(InputError, match=r"lacks \['sample_count'\]"), engine.begin() as connection:
        load_gpu_hourly(connection, [row(1), {**row(2), "sample_count": None}])
    assert stored(engine) == []


def test_many_rows_load_in_batches(engine: Engine) -> None:
    rows = [{**row(h), "gpu_id": f"GPU-{g}"} for g in range(30) for h in range(100)]
    with engine.begin() as connection:
        assert load_gpu_hourly(connection, rows) == 3000
    assert len(stored(engine)) == 3000
