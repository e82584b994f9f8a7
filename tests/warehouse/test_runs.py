"""Collector runs: start, finish, fail, the latest run per source, and the watermark."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine

from warehouse.runs import fail_run, finish_run, last_runs, last_watermark, start_run

T0 = dt.datetime(2026, 11, 18, 6, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def test_a_finished_run_keeps_rows_watermark_and_details(engine: Engine) -> None:
    run_id = start_run(engine, "prometheus", window_start=T0 - 24 * H, window_end=T0, now=T0)
    assert last_runs(engine)["prometheus"].status == "running"
    finish_run(
        engine,
        run_id,
        rows=68,
        watermark=T0,
        details={"queries": 20},
        now=T0 + dt.timedelta(seconds=3),
    )
    run = last_runs(engine)["prometheus"]
    assert (run.id, run.status, run.rows, run.error) == (run_id, "succeeded", 68, None)
    assert (run.window_start, run.window_end, run.watermark) == (T0 - 24 * H, T0, T0)
    assert run.started_at == T0
    assert run.finished_at == T0 + dt.timedelta(seconds=3)
    assert run.details == {"queries": 20}
    assert last_watermark(engine, "prometheus") == T0


def test_a_failed_run_does_not_move_the_watermark(engine: Engine) -> None:
    ok = start_run(engine, "prometheus", window_start=T0 - H, window_end=T0, now=T0)
    finish_run(engine, ok, rows=8, watermark=T0, now=T0)
    bad = start_run(engine, "prometheus", window_start=T0, window_end=T0 + 2 * H, now=T0 + 2 * H)
    fail_run(engine, bad, error="prometheus at http://p:9090: cannot connect", now=T0 + 2 * H)

    latest = last_runs(engine)["prometheus"]
    assert (latest.id, latest.status, latest.watermark) == (bad, "failed", None)
    assert latest.error == "prometheus at http://p:9090: cannot connect"
    assert last_watermark(engine, "prometheus") == T0


def test_watermark_is_the_furthest_success_and_sources_are_separate(engine: Engine) -> None:
    for end in (T0 + 5 * H, T0 + 3 * H):  # a manual backfill of older hours runs last
        run_id = start_run(engine, "prometheus", window_start=end - H, window_end=end, now=T0)
        finish_run(engine, run_id, rows=1, watermark=end, now=T0)
    other = start_run(engine, "aws", window_start=None, window_end=None, now=T0)
    finish_run(engine, other, rows=0, watermark=None, now=T0)

    assert last_watermark(engine, "prometheus") == T0 + 5 * H
    assert last_watermark(engine, "aws") is None
    assert last_watermark(engine, "never-ran") is None
    assert set(last_runs(engine)) == {"prometheus", "aws"}
    assert last_runs(engine)["prometheus"].watermark == T0 + 3 * H  # the latest run, not the max
