"""`analyze`, `collect`, `db rebuild-rollups` and `demo` show a line per step on a terminal
(spinner, then a mark, the step's count and its time), and nothing elsewhere.

Tests render into a forced-terminal console writing to a StringIO and read the last frame.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from analytics.policies import IdleGpuPolicy
from collectors.price_snapshot import SNAPSHOT_DIR, load_snapshot
from spendwatch.commands.analyze import analyze_now, run_analysis
from spendwatch.commands.collect import run_collectors
from spendwatch.commands.db import rebuild_rollups
from spendwatch.config import Settings
from spendwatch.demo import build_demo
from spendwatch.progress import Steps, step_list
from tests.analytics.gpu_tables import gpu_rows, load, load_training_host, usage_line
from warehouse.db import make_engine

AS_OF = dt.datetime(2026, 8, 10, 12, tzinfo=dt.UTC)
ELAPSED = re.compile(r"\d+:\d\d:\d\d")


def terminal() -> tuple[Console, io.StringIO]:
    screen = io.StringIO()
    return Console(file=screen, force_terminal=True, width=120, color_system=None), screen


def last_frame(screen: io.StringIO) -> list[str]:
    """The step lines left on the screen, each without its elapsed time."""
    # rich redraws the lines in place; the last frame is what stays on the screen
    frame = screen.getvalue().rsplit("\x1b[2K", 1)[-1]
    lines = [line.split() for line in frame.splitlines() if line[:1] in ("✓", "✗")]
    assert all(ELAPSED.fullmatch(words[-1]) for words in lines)
    return [" ".join(words[:-1]) for words in lines]


def settings_for(db_url: str) -> Settings:
    return Settings(database={"url": db_url})  # type: ignore[arg-type]


def _one_training_host(db_url: str) -> None:
    """The one host of load_training_host, whose three findings
    tests/analytics/test_gpu_rightsizing.py works out: idle_gpu 11890.24, gpu_rightsizing
    11155.86, spot_candidate 1942.07 a month."""
    engine = make_engine(db_url)
    load_snapshot(engine)
    load_training_host(engine, as_of=AS_OF)
    engine.dispose()


def test_analyze_shows_each_rule_with_its_finding_count(db_url: str) -> None:
    _one_training_host(db_url)
    console, screen = terminal()
    with step_list(console) as progress:
        result = analyze_now(settings_for(db_url), as_of=AS_OF, steps=Steps(progress))
    assert len(result.findings) == 3
    assert last_frame(screen) == [
        "✓ idle and unmonitored GPUs 1 finding",  # idle; billed without telemetry: none
        "✓ GPU rightsizing 1 finding",
        "✓ spot candidates 1 finding",
        "✓ cold storage 0 findings",  # no storage inventory
        "✓ spend anomalies 0 findings",  # no billing
        "✓ saving findings 3 opened",
        # each saving is over [slack] min_monthly_savings = 100, so each is announced
        "✓ queueing alerts 3 notifications",
    ]


def test_analyze_without_steps_draws_nothing(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The scheduler's path: no steps given, so no console is even opened."""
    _one_training_host(db_url)
    engine = make_engine(db_url)
    try:
        result = run_analysis(engine, as_of=AS_OF, policy=IdleGpuPolicy())
    finally:
        engine.dispose()
    assert len(result.findings) == 3
    assert capsys.readouterr() == ("", "")


def _snapshot_price_rows() -> int:
    with (SNAPSHOT_DIR / "prices.csv").open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def test_collect_shows_each_collector_with_its_status_and_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    console, screen = terminal()
    try:
        with step_list(console) as progress:
            results, failures = run_collectors(
                engine,
                settings_for(db_url),
                ["price_snapshot", "prometheus"],  # prometheus has no URL: it fails
                now=AS_OF,
                steps=Steps(progress),
            )
    finally:
        engine.dispose()
    assert [r["status"] for r in results] == ["succeeded", "failed"]
    assert len(failures) == 1
    assert _snapshot_price_rows() == 6952  # 6,953 lines in prices.csv, less the header
    assert last_frame(screen) == [
        "✓ price_snapshot succeeded, 6,952 rows",
        "✗ prometheus failed, 0 rows",
    ]


def test_collect_without_a_terminal_prints_nothing(db_url: str) -> None:
    engine = make_engine(db_url)
    screen = io.StringIO()
    try:
        with step_list(Console(file=screen)) as progress:
            results, _ = run_collectors(
                engine, settings_for(db_url), ["prometheus"], now=AS_OF, steps=Steps(progress)
            )
    finally:
        engine.dispose()
    assert [r["status"] for r in results] == ["failed"]
    assert screen.getvalue() == ""


def test_rebuild_rollups_shows_both_rollups_with_their_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    day = dt.datetime(2026, 8, 8, tzinfo=dt.UTC)
    load(
        engine,
        # two GPUs over 48 hours from 2026-08-08 12:00: parts of 3 UTC days, one resource
        gpu=gpu_rows("i-a", [day + dt.timedelta(hours=12 + h) for h in range(48)], gpus=2),
        # two resources billed on two days each: 4 (day, resource) groups
        billing=[
            usage_line(rid, day + dt.timedelta(days=d), cost="1.50")
            for rid in ("i-a", "i-b")
            for d in (0, 1)
        ],
    )
    engine.dispose()
    console, screen = terminal()
    assert rebuild_rollups(settings_for(db_url), console=console) == (4, 3)
    assert last_frame(screen) == [
        "✓ cost rollup (cost_daily) 4 rows",
        "✓ GPU rollup (gpu_daily) 3 rows",
    ]
    quiet = io.StringIO()
    assert rebuild_rollups(settings_for(db_url), console=Console(file=quiet)) == (4, 3)
    assert quiet.getvalue() == ""


def test_demo_shows_its_main_steps(tmp_path: Path, shared_data: Path) -> None:
    console, screen = terminal()
    summary = build_demo(
        tmp_path / "demo", shared_data=shared_data, host_count=4, days=2, console=console
    )
    # The first four hosts of seed 7 (idle g6.xlarge, nightly a2-highgpu-1g, underused
    # a3-highgpu-8g, busy p5.48xlarge) bill every hour of the 2 days: 4 x 48 = 192 rows, and
    # log 1 + 1 + 8 + 8 = 18 GPUs x 48 h = 864 GPU-hours. Runs: 12:00 the day before as_of,
    # then as_of. Nothing is resized, so only the job-log prefix is acted on.
    assert summary.snoozed_id is None and summary.dismissed_id is not None
    assert last_frame(screen) == [
        "✓ FOCUS sample bill 1,000 rows",
        "✓ GPU fleet bill (4 hosts, 2 days) 192 rows",
        "✓ instance types, prices and resources 4 resources",
        "✓ nvidia-smi logs 4 logs, 864 GPU-hours",
        "✓ daily analyses 2 of 2",
        f"✓ snooze and dismiss finding {summary.dismissed_id} dismissed",
    ]


def test_demo_without_a_terminal_prints_nothing(tmp_path: Path, shared_data: Path) -> None:
    screen = io.StringIO()
    summary = build_demo(
        tmp_path / "demo",
        shared_data=shared_data,
        host_count=4,
        days=2,
        console=Console(file=screen),
    )
    assert (summary.sample_rows, summary.fleet_billing_rows) == (1000, 192)
    assert screen.getvalue() == ""
