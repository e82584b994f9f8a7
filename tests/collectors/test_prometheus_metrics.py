"""The metric tables against NVIDIA's real dcgm-exporter counters files."""

from __future__ import annotations

from pathlib import Path

from collectors.dcgm_metrics import DCGM, dcgm_counters, missing_dcgm_counters


def test_counters_csv_field_with_a_trailing_space_is_read(shared_data: Path) -> None:
    text = (shared_data / "gpu/dcgm-exporter-counters/default-counters.csv").read_text()
    counters = dcgm_counters(text)
    # Upstream writes "DCGM_FI_DEV_DEC_UTIL ," with a space before the comma.
    assert "DCGM_FI_DEV_DEC_UTIL ," in text
    assert counters["DCGM_FI_DEV_DEC_UTIL"] == "gauge"
    assert all(name == name.strip() for name in counters)
    assert counters["DCGM_FI_DEV_GPU_UTIL"] == "gauge"


def test_default_counters_enable_every_metric_the_collector_reads(shared_data: Path) -> None:
    text = (shared_data / "gpu/dcgm-exporter-counters/default-counters.csv").read_text()
    assert missing_dcgm_counters(text) == []


def test_a_trimmed_counters_file_reports_what_is_missing() -> None:
    text = "# name, type, help\nDCGM_FI_DEV_GPU_UTIL, gauge, GPU utilization (in %).\n"
    assert missing_dcgm_counters(text) == [
        DCGM.mem_used,
        DCGM.mem_free,
        DCGM.power,
        DCGM.engine_active,
    ]


def test_the_energy_counter_stands_in_for_a_dropped_power_gauge(shared_data: Path) -> None:
    text = (shared_data / "gpu/dcgm-exporter-counters/default-counters.csv").read_text()
    # Upstream's own default file declares the energy counter next to the power gauge.
    assert dcgm_counters(text)["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"] == "counter"
    without_gauge = "\n".join(
        line for line in text.splitlines() if not line.startswith("DCGM_FI_DEV_POWER_USAGE,")
    )
    assert "DCGM_FI_DEV_POWER_USAGE" not in dcgm_counters(without_gauge)
    assert missing_dcgm_counters(without_gauge) == []
