"""The scheduler: one lease per warehouse, a schedule that is data, jobs that record real runs."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from spendwatch import jobs
from spendwatch.scheduler import JOBS, LeaseHeld, build_scheduler, job_table, scheduler_lease
from warehouse.schema import collector_runs


def test_a_second_scheduler_is_refused_while_the_first_holds_the_lease(engine: Engine) -> None:
    with (
        scheduler_lease(engine, wait=False),
        pytest.raises(LeaseHeld, match="another `spendwatch serve`"),
        scheduler_lease(engine, wait=False),
    ):
        pass  # pragma: no cover - must not be reached
    with scheduler_lease(engine, wait=False):  # released: the next one gets it
        pass


def test_a_standby_takes_over_when_the_holder_stops(engine: Engine) -> None:
    took_over = threading.Event()

    def standby() -> None:
        with scheduler_lease(engine, wait=True):
            took_over.set()

    with scheduler_lease(engine, wait=False):
        waiter = threading.Thread(target=standby, daemon=True)
        waiter.start()
        time.sleep(0.3)
        assert not took_over.is_set(), "the standby ran while the lease was held"
    waiter.join(timeout=10)
    assert took_over.is_set()


def test_schedule_lists_every_job_with_a_next_run_in_utc() -> None:
    rows = job_table(build_scheduler())
    assert [row["job"] for row in rows] == ["collect", "analyze", "alert", "report"]
    by_job = {row["job"]: row for row in rows}
    assert by_job["collect"]["next_run"].minute == 5
    assert by_job["analyze"]["next_run"].minute == 20
    assert by_job["alert"]["schedule"] == "every 5 minutes"
    report = by_job["report"]["next_run"]
    assert (report.day, report.hour, report.minute) == (2, 6, 0)
    assert all(row["next_run"].utcoffset().total_seconds() == 0 for row in rows)
    assert len({job.func for job in JOBS}) == len(JOBS)


def test_collect_job_records_a_failed_run_for_a_source_that_is_down(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    # Nothing listens on port 9 of loopback: the Prometheus source is down.
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    monkeypatch.setenv("SPENDWATCH_PROMETHEUS__URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SPENDWATCH_PROMETHEUS__RETRIES", "0")
    jobs.collect_job()  # must not raise: the scheduler keeps running
    engine = sa.create_engine(db_url)
    with engine.connect() as connection:
        runs = connection.execute(
            sa.select(collector_runs.c.source, collector_runs.c.status, collector_runs.c.error)
        ).all()
    engine.dispose()
    prometheus_runs = [run for run in runs if run.source == "prometheus"]
    assert len(prometheus_runs) == 1
    assert prometheus_runs[0].status == "failed"
    assert "127.0.0.1:9" in prometheus_runs[0].error


def test_analyze_job_stores_findings_and_queues_their_alerts(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An idle 4-GPU host billed 60.00 a day: 730 x 60 x 7 / 168 = 1825.00 a month, over the
    # default 100 alert threshold, so one opened finding queues one notification.
    import datetime as dt

    from tests.analytics.gpu_tables import AS_OF, gpu_rows, hours_before, load, resource, usage_line
    from warehouse.db import make_engine
    from warehouse.schema import findings, notification_outbox

    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    engine = make_engine(db_url)
    days = [dt.datetime(2024, 9, d, tzinfo=dt.UTC) for d in range(24, 31)]
    load(
        engine,
        gpu=gpu_rows("i-idle", hours_before(AS_OF, 24), gpus=4),
        billing=[usage_line("i-idle", day, cost="60.00") for day in days],
        inventory=[resource("i-idle", gpu_count=4, gpu_model="NVIDIA L4", owner="alice")],
    )
    # Patch only the clock: the job runs at 20 past the hour the test data ends in.
    monkeypatch.setattr(jobs, "_now", lambda: AS_OF.replace(minute=20))
    jobs.analyze_job()
    jobs.analyze_job()  # idempotent for the same hour
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(findings.c.kind, findings.c.monthly_savings, findings.c.status)
        ).all()
        queued = connection.execute(sa.select(sa.func.count()).select_from(notification_outbox))
        queued_count = queued.scalar()
    engine.dispose()
    assert [(kind, str(saving), status) for kind, saving, status in stored] == [
        ("idle_gpu", "1825.00", "open")
    ]
    assert queued_count == 1
