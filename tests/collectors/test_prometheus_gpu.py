"""The Prometheus GPU collector against a real Prometheus holding a backfilled fleet.

Every expected number is worked out by hand from the patterns in ``prometheus_fleet.py``:
15 s samples, so a full hour holds 240 of them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from collectors.base import collection_window, run_collector
from collectors.prometheus_gpu import PrometheusGpuCollector
from spendwatch.cli import app
from tests.collectors.prometheus_fleet import HOURS, MIB, TYPES, build_fleet, window_start
from tests.prometheus_server import running_prometheus, write_openmetrics
from warehouse.load_gpu import gpu_hourly_rows
from warehouse.runs import last_runs

pytestmark = pytest.mark.prometheus

H = dt.timedelta(hours=1)


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dt.datetime]]:
    """(URL of a running Prometheus, the window start) for the whole session."""
    h0 = window_start(dt.datetime.now(dt.UTC))
    workdir = tmp_path_factory.mktemp("prometheus-fleet")
    openmetrics = workdir / "fleet.om.txt"
    write_openmetrics(openmetrics, build_fleet(int(h0.timestamp())), types=TYPES)
    with running_prometheus(openmetrics, workdir) as url:
        yield url, h0


def collect_fleet(engine: Engine, url: str, h0: dt.datetime, **options: Any) -> Any:
    return PrometheusGpuCollector(url, **options).collect(engine, since=h0, until=h0 + HOURS * H)


def rows_by_gpu(engine: Engine) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    with engine.connect() as connection:
        rows = gpu_hourly_rows(connection)
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["source"], row["resource_id"], row["gpu_id"]), []).append(row)
    return grouped


def column(rows: list[dict[str, Any]], name: str) -> list[Any]:
    return [row[name] for row in rows]


def test_hourly_rollups_equal_the_hand_worked_values(
    engine: Engine, fleet: tuple[str, dt.datetime]
) -> None:
    url, h0 = fleet
    result = collect_fleet(engine, url, h0)
    gpus = rows_by_gpu(engine)

    # 11 (source, GPU) pairs x 8 hours (MIG slices count as GPUs, GPU-both is read by both
    # exporters), minus the 4 hours after termination.
    assert result.rows == 11 * 8 - 4
    assert sum(len(rows) for rows in gpus.values()) == 84
    assert result.watermark == h0 + 8 * H
    # The bare engine-active series and the one with only a scrape target have no GPU id.
    assert result.details["skipped_series"] == 2
    # 11 queries for dcgm (3 counts + 8 values), 9 for nvidia_smi (2 counts + 7 values).
    assert result.details["queries"] == 20

    busy = gpus[("dcgm", "i-0busy", "GPU-a100-busy")]  # instance_id wins over Hostname
    assert column(busy, "hour") == [h0 + i * H for i in range(8)]
    # Busy 01:00-05:00 alternating 90/100: avg 95, max 100. The sample at exactly 01:00:00
    # is in the 01:00 hour (hour 00 stays 0), and the one at 08:00:00 is in no hour here.
    assert column(busy, "util_avg") == [0, 95, 95, 95, 95, 0, 0, 0]
    assert column(busy, "util_max") == [0, 100, 100, 100, 100, 0, 0, 0]
    assert column(busy, "sample_count") == [240] * 8
    assert column(busy, "mem_used_avg_bytes") == [500 * MIB] + [30000 * MIB] * 4 + [500 * MIB] * 3
    assert column(busy, "mem_total_bytes") == [40960 * MIB] * 8  # used + free
    # The gauge wins over A's energy counter (a steady 1000 W).
    assert column(busy, "power_avg_watts") == [60, 300, 300, 300, 300, 60, 60, 60]
    assert column(busy, "engine_active_avg") == [None] * 8  # no profiling metrics exported
    assert busy[0]["gpu_model"] == "NVIDIA A100-SXM4-40GB"
    assert busy[0]["labels"] is None

    idle = gpus[("dcgm", "gpu-idle", "GPU-t4-idle")]  # Hostname, as in the real T4 scrape
    assert column(idle, "util_max") == [0] * 8
    assert column(idle, "mem_used_max_bytes") == [0] * 8
    assert column(idle, "mem_total_bytes") == [15109 * MIB] * 8
    assert column(idle, "power_avg_watts") == pytest.approx([8.969] * 8)

    for slice_id, profile, engine_avg, engine_max, total_mib in (
        ("1", "3g.40gb", 50.0, 60.0, 40192),  # 0.4/0.6 alternating
        ("2", "1g.10gb", 0.0, 0.0, 9856),
    ):
        mig = gpus[("dcgm", "i-0mig", f"GPU-h100-mig/{slice_id}")]
        assert len(mig) == 8
        assert column(mig, "util_avg") == [None] * 8  # MIG reports no utilization
        assert column(mig, "engine_active_avg") == pytest.approx([engine_avg] * 8)
        assert column(mig, "engine_active_max") == pytest.approx([engine_max] * 8)
        assert column(mig, "sample_count") == [240] * 8  # counted on engine-active
        assert column(mig, "mem_total_bytes") == [total_mib * MIB] * 8
        assert {row["mig_profile"] for row in mig} == {profile}

    l40s = gpus[("nvidia_smi_exporter", "gpu-l40s:9835", "00000000-0000-0000-0000-000000000000")]
    assert column(l40s, "util_avg") == [100.0] * 8  # ratio 1 -> percent
    assert column(l40s, "mem_used_max_bytes") == [0] * 8  # the trap: 100% busy, no memory
    assert column(l40s, "mem_total_bytes") == [48305799168] * 8
    assert column(l40s, "power_avg_watts") == pytest.approx([144.97] * 8)
    assert {row["gpu_model"] for row in l40s} == {"NVIDIA L40S"}  # from nvidia_smi_gpu_info

    terminated = gpus[("dcgm", "i-0term", "GPU-a10g-term")]
    assert column(terminated, "hour") == [h0, h0 + H, h0 + 2 * H, h0 + 3 * H]  # no invented zeros
    assert column(terminated, "sample_count") == [240, 240, 240, 120]
    assert column(terminated, "util_avg") == [70, 70, 70, 70]

    dcgm_both = gpus[("dcgm", "i-0both", "GPU-both")]
    smi_both = gpus[("nvidia_smi_exporter", "i-0both", "GPU-both")]
    assert column(dcgm_both, "sample_count") == [240] * 8  # two scrape jobs, counted once
    assert column(dcgm_both, "util_avg") == [40] * 8
    assert column(smi_both, "util_avg") == pytest.approx([40.0] * 8)
    assert column(smi_both, "sample_count") == [240] * 8
    assert column(smi_both, "mem_used_avg_bytes") == [2000 * MIB] * 8

    pod = gpus[("dcgm", "i-0pod", "GPU-a10g-pod")]
    # Pod train-a (util 30) until 02:20, then train-b (util 60): hour 2 holds 80 + 160 samples,
    # avg (80*30 + 160*60) / 240 = 50, one row, labelled with the pod that had most samples.
    assert column(pod, "util_avg") == [30, 30, 50, 60, 60, 60, 60, 60]
    assert column(pod, "sample_count") == [240] * 8
    assert [row["labels"]["pod"] for row in pod] == ["train-a"] * 2 + ["train-b"] * 6
    assert pod[0]["labels"] == {"namespace": "ml", "pod": "train-a", "container": "trainer"}


def test_power_from_the_energy_counter_across_a_driver_reload(
    engine: Engine, fleet: tuple[str, dt.datetime]
) -> None:
    url, h0 = fleet
    collect_fleet(engine, url, h0)
    energy = gpus_power(engine, "i-0energy", "GPU-a10g-energy")
    # increase() over the point at H+1h-1ms sees the 240 samples H, H+15 s, ..., H+59:45, and
    # extrapolates (Prometheus' rule) to each window edge that is nearer than 1.1 x the mean
    # sample spacing (15 s): 0.001 s before the first sample and 14.999 s after the last, so
    # the 3585 s sampled stretch is scaled to exactly 3600 s.
    # Hours 0-1 at 300 W: (300 W x 3585 s) x 3600 / 3585 / 3600 s = 300 W.
    # Hour 2: 200 W, counter back to 0 at 02:30:00. increase() adds the last value before the
    # drop back in, so it sees 200 W over the 238 scrape intervals that do not span the reset
    # (3570 s); the 15 s interval ending at 0 is lost. 200 x 3570 J x 3600 / 3585 / 3600 s =
    # 200 x 3570 / 3585 W. A naive last - first would be (200 x 1785 - 7,160,000) J / 3600 s,
    # about -1889.7 W.
    # Hours 3-7: 200 W after the reset (the counter starts near 0; it holds 1800 s of energy at
    # 03:00, too far from 0 for Prometheus to cut the extrapolation short): 200 W.
    assert energy == pytest.approx([300, 300, 200 * 3570 / 3585, 200, 200, 200, 200, 200])
    assert energy[2] == pytest.approx(199.16318, abs=1e-5)


def test_an_exporter_restart_gap_adds_no_samples(
    engine: Engine, fleet: tuple[str, dt.datetime]
) -> None:
    url, h0 = fleet
    collect_fleet(engine, url, h0)
    restart = rows_by_gpu(engine)[("dcgm", "i-0restart", "GPU-a10g-restart")]
    assert column(restart, "hour") == [h0 + i * H for i in range(8)]
    # 04:30:00-04:34:45 were never scraped: 240 - 20 = 220 samples in hour 4.
    assert column(restart, "sample_count") == [240] * 4 + [220] + [240] * 3
    # Hour 4: 120 samples at 50 before the restart, 100 at 28 after: (6000 + 2800) / 220 = 40.
    # (Filling the gap with zeros would give 36.67, carrying 50 over it 40.83.)
    assert column(restart, "util_avg") == [50] * 4 + [40] + [28] * 3
    assert column(restart, "util_max") == [50] * 5 + [28] * 3
    # The energy counter kept counting through the gap at 250 W. Hour 4 samples run from
    # 04:00:00 to 04:59:45 as before (219 intervals, mean 3585/219 = 16.37 s), both edges are
    # within 1.1 x that, so the 3585 s are again scaled to 3600 s: 250 W, gap included.
    assert gpus_power(engine, "i-0restart", "GPU-a10g-restart") == pytest.approx([250] * 8)


def gpus_power(engine: Engine, resource: str, gpu: str) -> list[Any]:
    return column(rows_by_gpu(engine)[("dcgm", resource, gpu)], "power_avg_watts")


def test_recollecting_in_small_chunks_writes_the_same_rows(
    engine: Engine, fleet: tuple[str, dt.datetime]
) -> None:
    url, h0 = fleet
    collect_fleet(engine, url, h0)
    with engine.connect() as connection:
        first = [{k: v for k, v in row.items() if k != "id"} for row in gpu_hourly_rows(connection)]
    # 3-hour chunks (3 + 3 + 2) and a second pass over the same window: idempotent.
    again = collect_fleet(engine, url, h0, chunk_hours=3)
    assert again.details["queries"] == 60
    with engine.connect() as connection:
        second = [
            {k: v for k, v in row.items() if k != "id"} for row in gpu_hourly_rows(connection)
        ]
    assert again.rows == 84
    assert second == first


def test_run_is_recorded_and_the_next_window_starts_at_watermark_minus_lookback(
    engine: Engine, fleet: tuple[str, dt.datetime]
) -> None:
    url, h0 = fleet
    collector = PrometheusGpuCollector(url)
    # "now" mid-hour 08:40: only the complete hours up to 08:00 are loaded.
    outcome = run_collector(engine, collector, now=h0 + 8 * H + dt.timedelta(minutes=40), since=h0)
    assert (outcome.status, outcome.rows, outcome.watermark) == ("succeeded", 84, h0 + 8 * H)
    run = last_runs(engine)["prometheus"]
    assert (run.status, run.rows, run.watermark, run.error) == ("succeeded", 84, h0 + 8 * H, None)
    assert run.details == {"queries": 20, "skipped_series": 2, "hours": 8}
    since, until = collection_window(engine, collector, now=h0 + 10 * H)
    assert (since, until) == (h0 + 6 * H, h0 + 10 * H)


def test_cli_collects_and_lists(
    db_url: str, fleet: tuple[str, dt.datetime], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, h0 = fleet
    monkeypatch.chdir(tmp_path)  # no stray spendwatch.toml
    monkeypatch.delenv("SPENDWATCH_CONFIG", raising=False)
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    monkeypatch.setenv("SPENDWATCH_PROMETHEUS__URL", url)
    runner = CliRunner()
    since, until = h0.isoformat(), (h0 + 8 * H).isoformat()
    result = runner.invoke(
        app, ["collect", "prometheus", "--since", since, "--until", until, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    [run] = json.loads(result.stdout)
    assert run["status"] == "succeeded"
    assert run["rows"] == 84
    assert run["watermark"] == (h0 + 8 * H).isoformat().replace("+00:00", "Z")

    listed = runner.invoke(app, ["collect", "--list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    entry = {item["name"]: item for item in json.loads(listed.stdout)}["prometheus"]
    assert (entry["name"], entry["configured"], entry["status"]) == (
        "prometheus",
        True,
        "succeeded",
    )
