"""The NVML agent through a fake at the NVML boundary, fed from real nvidia-smi captures.

Hourly rows land in the warehouse (SQLite and PostgreSQL), /metrics is scraped over loopback
HTTP, and the no-driver path runs against the real pynvml (this machine has no NVIDIA driver).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from collectors.nvml_agent import NvmlAgent, run_agent, serve_metrics
from collectors.nvml_source import GpuReading, NvmlSession
from tests.collectors.nvml_fake import MIB, FakeGpu, FakeNvml, gpu_from_capture
from warehouse.errors import SourceError
from warehouse.load_gpu import gpu_hourly_rows

H0 = dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def captured(shared_data: Path) -> dict[str, FakeGpu]:
    """The real readings. Captures mask every UUID to zeros, so each gets its own here."""
    return {
        f"{name}_{state}": dataclasses.replace(
            gpu_from_capture(shared_data, name, state), uuid=f"GPU-{name}"
        )
        for name in ("h100", "h100_mig", "l40s")
        for state in ("idle", "load")
    }


def test_readings_match_the_captures(captured: dict[str, FakeGpu]) -> None:
    fake = FakeNvml([captured["h100_idle"], captured["h100_load"], captured["l40s_idle"]])
    fake.gpus.append(captured["h100_mig_idle"])
    with NvmlSession(fake) as session:
        idle, loaded, l40s, mig = session.read(now=H0)
    assert (idle.util_percent, idle.power_watts, idle.mem_used_bytes) == (0.0, 69.85, 0)
    assert idle.mem_total_bytes == 81559 * MIB and idle.name == "NVIDIA H100 80GB HBM3"
    assert (loaded.util_percent, loaded.power_watts) == (100.0, 631.95)
    assert loaded.mem_used_bytes == 20_780_679_168  # 19818 MiB: the "20.78 GB used"
    # The L40S trap: 100 % "utilization" with nothing in memory, exactly as captured.
    assert (l40s.util_percent, l40s.mem_used_bytes, l40s.mig_enabled) == (100.0, 0, False)
    # MIG: NVML refuses utilization, which is unknown (None), never 0 %.
    assert (mig.util_percent, mig.mig_enabled, mig.mem_used_bytes) == (None, True, 59 * MIB)
    assert not fake.initialized  # nvmlShutdown ran


def test_an_hour_is_written_when_it_ends(engine: Engine, captured: dict[str, FakeGpu]) -> None:
    """H100 idle for 30 minutes then loaded for 30; a MIG GPU beside it, idle then loaded."""
    fake = FakeNvml([captured["h100_idle"], captured["h100_mig_idle"]])
    with NvmlSession(fake) as session:
        agent = NvmlAgent(session, resource_id="i-0agent", engine=engine)
        for minute in range(60):
            if minute == 30:
                fake.gpus = [captured["h100_load"], captured["h100_mig_load"]]
            agent.sample(now=H0 + minute * MINUTE)
        with engine.connect() as connection:
            assert gpu_hourly_rows(connection) == []  # 10:00 is not over yet
        agent.sample(now=H0 + 60 * MINUTE)  # the first 11:00 sample closes 10:00
        with engine.connect() as connection:
            h100, mig = gpu_hourly_rows(connection, source="nvml")
        agent.flush()  # on stop: the unfinished 11:00 hour, one sample so far
        with engine.connect() as connection:
            rows = gpu_hourly_rows(connection, source="nvml")
    assert h100["gpu_id"] == "GPU-h100" and h100["hour"] == H0
    assert h100["resource_id"] == "i-0agent" and h100["gpu_model"] == "NVIDIA H100 80GB HBM3"
    assert (h100["util_avg"], h100["util_max"], h100["sample_count"]) == (50.0, 100.0, 60)
    assert h100["mem_used_avg_bytes"] == 19818 * MIB // 2  # 30 x 0 and 30 x 19818 MiB
    assert h100["mem_used_max_bytes"] == 19818 * MIB
    assert h100["mem_total_bytes"] == 81559 * MIB
    assert h100["power_avg_watts"] == pytest.approx((69.85 + 631.95) / 2)
    # MIG: no utilization at all; the hour still counts its 60 samples (from memory).
    assert (mig["util_avg"], mig["util_max"], mig["sample_count"]) == (None, None, 60)
    assert mig["mem_used_avg_bytes"] == (59 + 11125) * MIB // 2
    assert mig["power_avg_watts"] == pytest.approx((71.15 + 433.78) / 2)
    assert [(r["gpu_id"], r["hour"], r["sample_count"]) for r in rows] == [
        ("GPU-h100", H0, 60),
        ("GPU-h100", H0 + dt.timedelta(hours=1), 1),
        ("GPU-h100_mig", H0, 60),
        ("GPU-h100_mig", H0 + dt.timedelta(hours=1), 1),
    ]


def test_run_loop_samples_until_stopped_then_writes(
    engine: Engine, captured: dict[str, FakeGpu]
) -> None:
    fake = FakeNvml([captured["l40s_idle"]])
    reads = []

    class CountingSession(NvmlSession):
        def read(self, *, now: dt.datetime) -> list[GpuReading]:
            reads.append(now)
            if len(reads) == 5:
                stop.set()
            return super().read(now=now)

    stop = threading.Event()
    with CountingSession(fake) as session:
        agent = NvmlAgent(session, resource_id="gpu-l40s", engine=engine)
        run_agent(agent, interval_seconds=0.01, stop=stop)
    with engine.connect() as connection:
        rows = gpu_hourly_rows(connection, source="nvml")
    assert sum(r["sample_count"] for r in rows) == len(reads) == 5
    assert {(r["util_max"], r["mem_used_max_bytes"]) for r in rows} == {(100.0, 0)}


def _scrape(url: str) -> dict[tuple[str, str], str]:
    """(metric, UUID) -> value, checking every sample line carries the dcgm-exporter labels."""
    text = httpx.get(url, timeout=5).raise_for_status().text
    found = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, rest = line.split("{", 1)
        labels_text, value = rest.rsplit("} ", 1)
        labels = dict(part.split("=", 1) for part in labels_text.split('",'))
        labels = {k: v.strip('"') for k, v in labels.items()}
        assert set(labels) == {"gpu", "UUID", "modelName", "Hostname"}, line
        assert labels["Hostname"] == "gpu-host-7"
        found[(name, labels["UUID"])] = value
    return found


def test_metrics_are_served_in_dcgm_exporter_names(captured: dict[str, FakeGpu]) -> None:
    fake = FakeNvml([captured["h100_load"], captured["h100_mig_load"]])
    with NvmlSession(fake) as session:
        agent = NvmlAgent(session, resource_id="gpu-host-7")  # no engine: serve only
        agent.sample(now=H0)
        server = serve_metrics(agent, hostname="gpu-host-7", address="127.0.0.1", port=0)
        try:
            base = f"http://127.0.0.1:{server.server_port}"
            metrics = _scrape(f"{base}/metrics")
            assert httpx.get(f"{base}/other", timeout=5).status_code == 404
        finally:
            server.shutdown()
            server.server_close()
    assert metrics == {
        ("DCGM_FI_DEV_GPU_UTIL", "GPU-h100"): "100",
        ("DCGM_FI_DEV_FB_USED", "GPU-h100"): "19818",
        ("DCGM_FI_DEV_FB_FREE", "GPU-h100"): str(81559 - 19818),
        ("DCGM_FI_DEV_POWER_USAGE", "GPU-h100"): "631.95",
        # MIG: like dcgm-exporter, no GPU_UTIL series at all for the parent GPU.
        ("DCGM_FI_DEV_FB_USED", "GPU-h100_mig"): "11125",
        ("DCGM_FI_DEV_FB_FREE", "GPU-h100_mig"): str(81559 - 11125),
        ("DCGM_FI_DEV_POWER_USAGE", "GPU-h100_mig"): "433.78",
    }


def test_no_driver_with_the_real_pynvml() -> None:
    with pytest.raises(SourceError, match=r"^no NVIDIA driver on this host"), NvmlSession():
        pass


def test_agent_command_without_a_driver_exits_1_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDWATCH_")}
    env["SPENDWATCH_DATABASE__URL"] = f"sqlite:///{tmp_path / 'w.db'}"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "spendwatch"), "agent", "--once"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: no NVIDIA driver on this host")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "w.db").exists()  # nothing was opened or written
