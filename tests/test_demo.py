"""The demo: its generated fleet and nvidia-smi logs, its prices (checked against the public
samples), and one build through the real paths (FOCUS ingest, nvidia-smi ingest, 14 days of
`analyze` with the alerts hook, a snooze and a dismissal), whose numbers are worked out here
from the generated fleet; and `spendwatch dashboard` refusing to go public.

The demo warehouse is SQLite by design (`spendwatch demo` is the embedded default), so these
tests do not run on PostgreSQL; the paths it drives are tested on both dialects elsewhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from collectors.nvidia_smi_files import parse_csv
from spendwatch import demo_fleet, demo_history, demo_shapes, demo_telemetry
from spendwatch.commands.demo import summary_lines
from spendwatch.demo import DEMO_AS_OF, DemoSummary, build_demo
from spendwatch.demo_nvidia_smi import NVIDIA_SMI_HEADER, SAMPLES_PER_HOUR, nvidia_smi_log
from warehouse.db import make_engine
from warehouse.findings_store import list_findings
from warehouse.schema import collector_runs, cost_line_items, gpu_hourly, notification_outbox
from warehouse.types import decimal_sum

HOSTS = 8  # one host per pattern: idle, nightly, underused, busy, stopped, reclaimed, phantom, mig
DAYS = 30
HOURS = DAYS * 24
SPENDWATCH = str(Path(sys.executable).parent / "spendwatch")


def _fleet() -> list[demo_fleet.Host]:
    return demo_fleet.generate_fleet(seed=7, host_count=HOSTS)


def _host(pattern: str) -> demo_fleet.Host:
    return next(host for host in _fleet() if host.pattern == pattern)


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
    }


@dataclass(frozen=True)
class Built:
    summary: DemoSummary
    cwd: Path
    before: dict[str, tuple[int, int]]
    after: dict[str, tuple[int, int]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Built]:
    """One build, from an unrelated working directory, with a relative --data-dir."""
    cwd = tmp_path_factory.mktemp("cwd")
    (cwd / "notes.txt").write_text("someone else's file\n")
    before = _listing(cwd)
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        summary = build_demo(Path("demo-data"), shared_data=shared_data, host_count=HOSTS)
    finally:
        os.chdir(previous)
    yield Built(summary, cwd, before, _listing(cwd))


def _rows(summary: DemoSummary, query: Any) -> list[Any]:
    engine = make_engine(summary.database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(query))
    finally:
        engine.dispose()


def test_fleet_is_deterministic_and_has_every_pattern_and_provider() -> None:
    fleet = demo_fleet.generate_fleet(seed=7, host_count=30)
    assert fleet == demo_fleet.generate_fleet(seed=7, host_count=30)
    assert fleet != demo_fleet.generate_fleet(seed=8, host_count=30)
    assert 20 <= len(fleet) <= 40
    assert set(Counter(host.pattern for host in fleet)) == set(demo_fleet.FIXED_PATTERNS)
    assert [host.pattern for host in fleet[:HOSTS]] == list(demo_fleet.FIXED_PATTERNS)
    assert {host.shape.provider for host in fleet} == {"aws", "gcp", "azure"}
    assert all(host.shape.gpu_count in (4, 8) for host in fleet if host.pattern == "underused")
    assert len({host.resource_id for host in fleet}) == len(fleet)
    assert _host("phantom").shape.gpu_model == "NVIDIA L40S"
    assert [h.tags["workload"] for h in fleet if h.pattern == "nightly"] == ["batch"] * sum(
        h.pattern == "nightly" for h in fleet
    )


def test_nightly_host_works_only_from_one_to_five_and_underused_uses_two_gpus() -> None:
    fleet = demo_fleet.generate_fleet(seed=7, host_count=4)  # idle, nightly, underused, busy
    rows = list(demo_telemetry.gpu_hourly_rows(fleet, as_of=DEMO_AS_OF, days=2))
    nightly = [r for r in rows if r["resource_id"] == fleet[1].resource_id]
    assert {r["hour"].hour for r in nightly if r["util_avg"] > 0} == {1, 2, 3, 4}
    underused = [r for r in rows if r["resource_id"] == fleet[2].resource_id]
    assert {r["gpu_id"] for r in underused if r["util_avg"] > 0} == {"0", "1"}
    assert len({r["gpu_id"] for r in underused}) == fleet[2].shape.gpu_count == 8
    assert min(r["hour"] for r in rows) == dt.datetime(2024, 9, 29, tzinfo=dt.UTC)
    assert max(r["hour"] for r in rows) == dt.datetime(2024, 9, 30, 23, tzinfo=dt.UTC)


def test_nvidia_smi_logs_read_back_as_the_fleet_behaves() -> None:
    """A day of the phantom L40S (100 % with 0 MiB) and the MIG A100 ([N/A]), through the
    collector's own CSV parser."""
    for pattern, util, used in (("phantom", 100.0, 0), ("mig", None, 40 * 1024 * 1024**2)):
        host = _host(pattern)
        lines = list(nvidia_smi_log(host, as_of=DEMO_AS_OF, days=1))
        assert lines == list(nvidia_smi_log(host, as_of=DEMO_AS_OF, days=1))  # seeded
        assert lines[0] == NVIDIA_SMI_HEADER
        assert lines[1].startswith("2024/09/30 00:00:00.000, 0, GPU-")
        assert len(lines) == 1 + 24 * SAMPLES_PER_HOUR * host.shape.gpu_count
        samples = parse_csv("\n".join(lines), path="log.csv", resource_id=host.resource_id, at=None)
        assert {s.util_percent for s in samples} == {util}
        assert {s.mem_used_bytes for s in samples} == {used}  # MIG: half of 80 GiB
        assert {s.gpu_model for s in samples} == {host.shape.gpu_model}
    stopped = _host("stopped")  # terminated 228 h before as_of: nothing logged after that
    assert list(nvidia_smi_log(stopped, as_of=DEMO_AS_OF, days=9)) == [NVIDIA_SMI_HEADER]


def test_real_prices_match_the_public_samples(shared_data: Path) -> None:
    with (shared_data / "aws/ondemand-prices/derived_ondemand_us-east-1.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    aws = {row["instance_type"]: Decimal(row["ondemand_usd_per_hour"]) for row in rows}
    gcp_text = (shared_data / "gcp/pricing/pricing.yml").read_text()

    def gcp(instance_type: str, key: str) -> Decimal:
        # compute > instance > <type> > cost > us-central1 > hour | hour_spot
        section = gcp_text[gcp_text.index(f"\n    {instance_type}:\n") :]
        region = section[section.index("        us-central1:\n") :]
        return Decimal(region.split(f"\n          {key}:", 1)[1].split()[0])

    for shape in demo_shapes.DEMO_SHAPES:
        if shape.provider == "aws":
            assert aws[shape.instance_type] == shape.hourly_price, shape.instance_type
        elif shape.provider == "gcp":
            assert gcp(shape.instance_type, "hour") == shape.hourly_price, shape.instance_type
        else:
            assert shape.price_source.startswith("illustrative")
    for instance_type, spot in demo_shapes.SPOT_PRICES.items():
        assert gcp(instance_type, "hour_spot") == spot, instance_type


def test_the_demo_writes_only_inside_its_data_dir(built: Built) -> None:
    new = set(built.after) - set(built.before)
    assert new and all(name.startswith("demo-data") for name in new), sorted(new)
    assert {k: v for k, v in built.after.items() if k in built.before} == built.before
    logs = sorted((built.cwd / "demo-data" / "nvidia-smi").iterdir())
    assert [log.stem for log in logs] == sorted(host.name for host in _fleet())


def test_billing_is_the_sample_plus_every_host_hour_it_ran(built: Built) -> None:
    fleet = _fleet()
    billed_hours = {h.resource_id: HOURS - h.terminated_hours for h in fleet}
    assert billed_hours[_host("stopped").resource_id] == 720 - 228
    assert built.summary.sample_rows == 1000
    assert built.summary.fleet_billing_rows == sum(billed_hours.values())
    [(total,)] = _rows(built.summary, sa.select(decimal_sum(cost_line_items.c.billed_cost)))
    fleet_bill = sum(
        (h.shape.hourly_price * billed_hours[h.resource_id] for h in fleet), Decimal(0)
    )
    assert total == Decimal("20.52022672899") + fleet_bill  # the README's exact sample sum
    runs = _rows(
        built.summary,
        sa.select(collector_runs.c.status, collector_runs.c.rows).where(
            collector_runs.c.source == "focus-file"
        ),
    )
    assert sorted(runs) == [("succeeded", 1000), ("succeeded", built.summary.fleet_billing_rows)]
    # Every host's nvidia-smi log is a recorded load too, so Data health lists both paths.
    logs = _rows(
        built.summary,
        sa.select(collector_runs.c.status).where(collector_runs.c.source == "nvidia-smi-file"),
    )
    assert len(logs) == len(_fleet()) and {status for (status,) in logs} == {"succeeded"}


def test_telemetry_came_through_nvidia_smi_at_four_samples_an_hour(built: Built) -> None:
    fleet = _fleet()
    gpu_hours = sum(h.shape.gpu_count * (HOURS - h.terminated_hours) for h in fleet)
    assert built.summary.gpu_hourly_rows == gpu_hours
    assert built.summary.telemetry_samples == gpu_hours * SAMPLES_PER_HOUR
    g = gpu_hourly.c
    counts = _rows(
        built.summary,
        sa.select(g.source, g.sample_count, sa.func.count()).group_by(g.source, g.sample_count),
    )
    assert counts == [("nvml", SAMPLES_PER_HOUR, gpu_hours)]
    mig, phantom = _host("mig").resource_id, _host("phantom").resource_id
    seen = _rows(
        built.summary,
        sa.select(g.resource_id, g.util_max, g.mem_used_max_bytes)
        .where(g.resource_id.in_([mig, phantom]))
        .distinct(),
    )
    assert sorted(seen, key=str) == sorted([(mig, None, 40 << 30), (phantom, 100.0, 0)], key=str)


def _findings(built: Built) -> list[dict[str, Any]]:
    engine = make_engine(built.summary.database_url)
    try:
        return list_findings(engine)
    finally:
        engine.dispose()


def _one(rows: list[dict[str, Any]], kind: str, host: demo_fleet.Host) -> dict[str, Any]:
    [row] = [r for r in rows if r["kind"] == kind and r["resource_id"] == host.resource_id]
    return row


def test_the_history_spreads_first_seen_over_the_days_it_ran(built: Built) -> None:
    rows = _findings(built)
    runs = demo_history.run_times(as_of=DEMO_AS_OF, days=DAYS)
    assert runs[0] == dt.datetime(2024, 9, 17, 12, tzinfo=dt.UTC) and runs[-1] == DEMO_AS_OF
    assert built.summary.analyses == len(runs) == 15
    assert {"idle_gpu", "gpu_rightsizing", "spot_candidate", "cold_storage"} <= {
        r["kind"] for r in rows
    }
    # The idle host is first flagged at the first noon run a full day after its work stopped.
    idle = _host("idle")
    stopped_work = DEMO_AS_OF - dt.timedelta(hours=idle.idle_since_hours)
    expected = next(run for run in runs if run >= stopped_work + dt.timedelta(hours=24))
    assert expected > runs[0]
    assert _one(rows, "idle_gpu", idle)["first_seen"] == expected
    assert len({r["first_seen"] for r in rows}) >= 2
    phantom = _one(rows, "idle_gpu", _host("phantom"))  # 100 % with no memory is not work
    assert phantom["status"] == "open"
    assert phantom["monthly_savings"] == Decimal("1.861") * 730
    assert not [r for r in rows if r["resource_id"] == _host("mig").resource_id]
    assert not [
        r
        for r in rows
        if r["resource_id"] == _host("nightly").resource_id and r["kind"] == "idle_gpu"
    ]


def _realized(before: Decimal, after: Decimal) -> Decimal:
    return ((before - after) / 168 * 730).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def test_resolved_findings_carry_the_saving_the_bill_shows(built: Built) -> None:
    rows = _findings(built)
    stopped, reclaimed = _host("stopped"), _host("reclaimed")
    # Terminated 2024-09-21 12:00: still idle at that noon's run, gone at the next one. The
    # week before resolution was billed for 6 days (144 h), the week after not at all.
    row = _one(rows, "idle_gpu", stopped)
    assert (row["status"], row["resolved_at"]) == (
        "resolved",
        dt.datetime(2024, 9, 22, 12, tzinfo=dt.UTC),
    )
    price = stopped.shape.hourly_price
    assert (
        row["realized_monthly_savings"] == _realized(price * 144, Decimal(0)) == Decimal("13739.21")
    )
    assert Decimal(row["evidence"]["realized"]["cost_before"]) == price * 144
    # Back at work from 2024-09-20 00:00: resolved at that noon; the bill did not change.
    row = _one(rows, "idle_gpu", reclaimed)
    assert row["resolved_at"] == dt.datetime(2024, 9, 20, 12, tzinfo=dt.UTC)
    week = reclaimed.shape.hourly_price * 168
    assert row["realized_monthly_savings"] == _realized(week, week) == Decimal("0.00")


def test_one_finding_is_snoozed_and_one_dismissed(built: Built) -> None:
    rows = {r["id"]: r for r in _findings(built)}
    snoozed = rows[built.summary.snoozed_id or 0]
    assert (snoozed["kind"], snoozed["status"]) == ("gpu_rightsizing", "snoozed")
    assert snoozed["resource_id"] == _host("underused").resource_id
    assert snoozed["snoozed_until"] == DEMO_AS_OF + dt.timedelta(days=14)
    # (88.4899999025753 - 22.1224999756438) x 730, a3-highgpu-8g -> a3-highgpu-2g
    assert snoozed["monthly_savings"] == Decimal("48448.27")
    dismissed = rows[built.summary.dismissed_id or 0]
    assert (dismissed["status"], dismissed["resource_id"]) == (
        "dismissed",
        "s3://acme-training-logs/jobs/stdout/",
    )
    assert dismissed["dismissed_reason"] == demo_history.DISMISS_REASON
    assert Counter(r["status"] for r in rows.values()) == built.summary.statuses


def test_alerts_were_queued_as_the_history_ran(built: Built) -> None:
    o = notification_outbox.c
    queued = _rows(built.summary, sa.select(o.finding_id, o.event, o.status, o.created_at))
    assert {status for *_, status, _ in queued} == {"pending"}
    assert len(queued) == built.summary.pending_alerts
    rows = _findings(built)
    resolved = {_one(rows, "idle_gpu", _host(p))["id"]: p for p in ("stopped", "reclaimed")}
    replies = {finding_id for finding_id, event, *_ in queued if event == "resolved"}
    assert replies == set(resolved)
    assert len({created for *_, created in queued}) >= 3  # queued on different days


def test_summary_and_alert_dry_run_show_the_queued_messages(built: Built) -> None:
    lines = summary_lines(built.summary)
    assert f"{built.summary.pending_alerts} Slack notifications queued" in lines[1]
    assert "1 snoozed, 1 dismissed, 2 resolved" in lines[1]
    command = lines[2].removeprefix("see them: ").split()
    assert command[0] == f"SPENDWATCH_DATABASE__URL={built.summary.database_url}"
    result = subprocess.run(
        [SPENDWATCH, *command[2:], "--format", "json"],
        env={**os.environ, "SPENDWATCH_DATABASE__URL": built.summary.database_url},
        cwd=built.cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    posts = json.loads(result.stdout)
    texts = [post["text"] for post in posts]
    assert any(text.startswith("Idle GPU wastes $1,358.53 a month") for text in texts)
    assert not any("jobs/stdout" in text for text in texts)  # dismissed: skipped
    o = notification_outbox.c
    [(still,)] = _rows(built.summary, sa.select(sa.func.count()).where(o.status == "pending"))
    assert still == built.summary.pending_alerts  # a dry run changes nothing


def test_dashboard_refuses_a_public_address_without_auth() -> None:
    result = subprocess.run(
        [SPENDWATCH, "dashboard", "--address", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: refusing to serve the dashboard on 0.0.0.0 without authentication; set "
        '[dashboard] auth = "proxy-header" (with allowed_users) or "oidc", or bind 127.0.0.1'
    ]
