"""`spendwatch ingest nvidia-smi` on the real captures (CSV) and telegraf's XML test data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from collectors.nvidia_smi_files import ingest_nvidia_smi_file
from spendwatch.cli import app, run
from tests.collectors.nvml_fake import CAPTURES, MIB, capture_section
from warehouse.db import make_engine
from warehouse.errors import IngestError
from warehouse.load_gpu import gpu_hourly_rows

runner = CliRunner()


def capture_csv(shared_data: Path, tmp_path: Path, capture: str) -> Path:
    """The capture's idle then load ``--query-gpu`` output, as one ``nvidia-smi -l`` style log."""
    text = (shared_data / "gpu" / "nvidia-smi-captures" / CAPTURES[capture]).read_text()
    path = tmp_path / f"{capture}.csv"
    path.write_text(capture_section(text, "idle") + capture_section(text, "load"))
    return path


def xml_file(shared_data: Path, name: str) -> Path:
    return shared_data / "gpu" / "nvidia-smi-xml" / name


def rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return gpu_hourly_rows(connection)


def test_h100_capture_idle_then_loaded(engine: Engine, shared_data: Path, tmp_path: Path) -> None:
    path = capture_csv(shared_data, tmp_path, "h100")
    result = ingest_nvidia_smi_file(engine, path, resource_id="i-0h100")
    assert (result.format, result.samples, result.rows) == ("csv", 2, 1)
    [row] = rows(engine)
    # 08:12:38 idle and 08:12:53 loaded: one 08:00 hour of two samples.
    assert row["hour"] == dt.datetime(2026, 7, 14, 8, 0, tzinfo=dt.UTC)
    assert (row["source"], row["resource_id"]) == ("nvml", "i-0h100")
    assert row["gpu_id"] == "GPU-00000000-0000-0000-0000-000000000000"
    assert row["gpu_model"] == "NVIDIA H100 80GB HBM3"
    assert (row["util_avg"], row["util_max"], row["sample_count"]) == (50.0, 100.0, 2)
    assert row["mem_used_avg_bytes"] == 19818 * MIB // 2
    assert row["mem_used_max_bytes"] == 19818 * MIB
    assert row["mem_total_bytes"] == 81559 * MIB
    assert row["power_avg_watts"] == pytest.approx((69.85 + 631.95) / 2)
    # Loading the same file again changes nothing.
    ingest_nvidia_smi_file(engine, path, resource_id="i-0h100")
    assert rows(engine) == [row]


def test_mig_capture_has_no_utilization(engine: Engine, shared_data: Path, tmp_path: Path) -> None:
    ingest_nvidia_smi_file(engine, capture_csv(shared_data, tmp_path, "h100_mig"), resource_id="m")
    [row] = rows(engine)
    assert (row["util_avg"], row["util_max"], row["sample_count"]) == (None, None, 2)
    assert row["mem_used_max_bytes"] == 11125 * MIB
    assert row["hour"] == dt.datetime(2026, 7, 14, 9, 0, tzinfo=dt.UTC)


def test_l40s_idle_reports_full_utilization(
    engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    ingest_nvidia_smi_file(engine, capture_csv(shared_data, tmp_path, "l40s"), resource_id="l")
    [row] = rows(engine)
    # Idle: 100 % with 0 MiB; loaded: 9 % with 1235 MiB. Utilization alone misjudges it.
    assert (row["util_avg"], row["util_max"]) == (54.5, 100.0)
    assert row["mem_used_avg_bytes"] == 1235 * MIB // 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "a100-sxm4-v12.xml",
            ("GPU-513536b6-7d19-9063-b049-1e69664bb298", "NVIDIA A100-SXM4-80GB", None, 50,
             81920, 67.03, dt.datetime(2023, 8, 4, 11, 0, tzinfo=dt.UTC)),
        ),
        (
            "a10g.xml",
            ("GPU-9a9a6c50-2a47-2f51-a902-b82c3b127e94", "NVIDIA A10G", 0.0, 22, 23028, 25.58,
             dt.datetime(2023, 4, 24, 16, 0, tzinfo=dt.UTC)),
        ),
        (
            "tesla-t4.xml",
            ("GPU-d37e67a5-91dd-3774-a5cb-99096249601a", "Tesla T4", 0.0, 1032, 15360, 26.78,
             dt.datetime(2023, 4, 24, 16, 0, tzinfo=dt.UTC)),
        ),
    ],
)  # fmt: skip
def test_xml_snapshots(
    engine: Engine, shared_data: Path, name: str, expected: tuple[Any, ...]
) -> None:
    result = ingest_nvidia_smi_file(engine, xml_file(shared_data, name), resource_id="host-1")
    assert (result.format, result.samples, result.rows) == ("xml", 1, 1)
    [row] = rows(engine)
    gpu_id, model, util, used_mib, total_mib, watts, hour = expected
    assert (row["gpu_id"], row["gpu_model"], row["util_avg"]) == (gpu_id, model, util)
    # The A100's MIG slices carry their own fb_memory_usage; the GPU's own is what counts.
    assert row["mem_used_avg_bytes"] == used_mib * MIB
    assert row["mem_total_bytes"] == total_mib * MIB
    assert row["power_avg_watts"] == pytest.approx(watts)
    assert (row["hour"], row["sample_count"]) == (hour, 1)


def test_csv_without_timestamps_takes_at(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "nounits.csv"
    path.write_text(
        "index, name, utilization.gpu, memory.used, memory.total, power.draw\n"
        "0, Tesla T4, 30, 1000, 15360, 35.5\n"
        "1, Tesla T4, [N/A], 0, 15360, [N/A]\n"
    )
    at = dt.datetime(2026, 11, 18, 6, 59, 59, tzinfo=dt.UTC)
    ingest_nvidia_smi_file(engine, path, resource_id="gpu-box", at=at)
    first, second = rows(engine)
    assert (first["gpu_id"], first["util_avg"], first["mem_used_avg_bytes"]) == (
        "0",
        30.0,
        1000 * MIB,
    )
    assert first["hour"] == dt.datetime(2026, 11, 18, 6, 0, tzinfo=dt.UTC)
    assert (second["gpu_id"], second["util_avg"], second["power_avg_watts"]) == ("1", None, None)


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run(["ingest", "nvidia-smi", *args])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_input_is_one_line_naming_the_file(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    shared_data: Path,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    monkeypatch.delenv("SPENDWATCH_CONFIG", raising=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp, uuid, utilization.gpu [%]\n2026/11/18 06:00:00.000, GPU-1, lots %\n")
    assert _error(capsys, str(bad), "--resource-id", "h") == (
        f"error: {bad}, row 2, column utilization.gpu: 'lots %' is not a number"
    )
    capture = capture_csv(shared_data, tmp_path, "h100")
    assert _error(capsys, str(capture)) == (
        f"error: {capture}, row 2: hostname is [N/A]; pass --resource-id"
    )
    xml = xml_file(shared_data, "a10g.xml")
    assert _error(capsys, str(xml)) == (
        f"error: {xml}: nvidia-smi XML names no host; pass --resource-id"
    )
    cut = tmp_path / "cut.xml"
    cut.write_text(xml.read_text()[:2000])
    assert _error(capsys, str(cut), "--resource-id", "h").startswith(
        f"error: {cut}: not well-formed XML"
    )
    table = tmp_path / "table.txt"
    table.write_text("Tue Nov 18 06:00:00 2026\n+---------------------+\n| NVIDIA-SMI 590 |\n")
    assert "no uuid or index column" in _error(capsys, str(table), "--resource-id", "h")
    engine = make_engine(db_url)
    assert rows(engine) == []  # nothing half-written
    engine.dispose()


def test_cli_loads_a_capture(
    db_url: str, monkeypatch: pytest.MonkeyPatch, shared_data: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    monkeypatch.delenv("SPENDWATCH_CONFIG", raising=False)
    path = capture_csv(shared_data, tmp_path, "h100")
    args = ["ingest", "nvidia-smi", str(path), "--resource-id", "i-0h100", "--format", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"path": str(path), "format": "csv", "samples": 2, "rows": 1}
    ]


def test_missing_file(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"nope\.csv: cannot read it"):
        ingest_nvidia_smi_file(engine, tmp_path / "nope.csv", resource_id="h")


def test_each_load_is_recorded_as_a_run_failures_included(engine: Engine, tmp_path: Path) -> None:
    from warehouse.runs import last_runs

    good = tmp_path / "good.csv"
    good.write_text(
        "index, name, utilization.gpu, memory.used, memory.total, power.draw\n"
        "0, Tesla T4, 30, 1000, 15360, 35.5\n"
        "1, Tesla T4, 0, 0, 15360, 20.0\n"
    )
    at = dt.datetime(2026, 11, 18, 6, 30, tzinfo=dt.UTC)
    ingest_nvidia_smi_file(engine, good, resource_id="gpu-box", at=at)
    run = last_runs(engine)["nvidia-smi-file"]
    assert (run.status, run.rows, run.error) == ("succeeded", 2, None)

    bad = tmp_path / "bad.csv"
    bad.write_text("index, name, utilization.gpu\n0, Tesla T4, lots\n")
    with pytest.raises(IngestError):
        ingest_nvidia_smi_file(engine, bad, resource_id="gpu-box", at=at)
    run = last_runs(engine)["nvidia-smi-file"]
    assert run.status == "failed" and run.rows == 0
    assert run.error is not None and "bad.csv" in run.error and "'lots'" in run.error
    assert len(rows(engine)) == 2  # the failed file wrote nothing
