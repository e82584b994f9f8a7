"""deliver_pending against the Slack stub with real slack_sdk clients, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy.engine import Engine

from alerts.outbox import deliver_pending, enqueue_for_changes
from alerts.slack import build_sender
from tests.alerts.conftest import (
    T0,
    add_finding,
    change,
    closed_port_url,
    outbox_rows,
    sender_for,
    set_status,
    slack_settings,
)
from tests.alerts.slack_stub import SlackStub

HOUR = dt.timedelta(hours=1)


def _queue(engine: Engine, settings, *findings: tuple[str, str, str | None]) -> list[int]:
    """Open findings (resource, monthly saving, team) and enqueue their 'opened' changes."""
    with engine.begin() as connection:
        ids = [
            add_finding(connection, resource_id=resource, savings=savings, team=team)
            for resource, savings, team in findings
        ]
        changes = [change(fid, savings) for fid, (_, savings, _) in zip(ids, findings, strict=True)]
        enqueue_for_changes(connection, changes, settings=settings, as_of=T0)
    return ids


def test_each_alert_worthy_finding_is_posted_once_and_a_rerun_posts_nothing(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)
    ids = _queue(engine, settings, ("i-big", "250.00", "nlp"), ("i-edge", "100", None))
    report = deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0)
    assert (report.posted, report.sent, report.failed) == (2, 2, 0)
    posts = stub.posts()
    assert [p.body["channel"] for p in posts] == ["#nlp-costs", "#finops"]
    assert "i-big" in posts[0].body["text"] and "$250.00" in posts[0].body["text"]
    rows = outbox_rows(engine)
    assert [(r["finding_id"], r["status"], r["attempts"]) for r in rows] == [
        (ids[0], "sent", 1),
        (ids[1], "sent", 1),
    ]
    assert [r["slack_ts"] for r in rows] == ["1727697600.000001", "1727697600.000002"]

    again = deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0 + HOUR)
    assert (again.posted, len(stub.attempts())) == (0, 2)


def test_a_429_waits_for_retry_after_then_delivers_once(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)
    _queue(engine, settings, ("i-rate", "300", None))
    stub.fail_next("429")
    started = time.monotonic()
    report = deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0)
    elapsed = time.monotonic() - started
    assert elapsed >= stub.retry_after  # slack_sdk slept for Retry-After: 1 before retrying
    assert [a.outcome for a in stub.attempts()] == ["429", "ok"]
    assert (report.posted, len(stub.posts())) == (1, 1)
    assert [(r["status"], r["attempts"]) for r in outbox_rows(engine)] == [("sent", 1)]


def test_slack_down_for_three_runs_then_back_delivers_everything_exactly_once(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub, retry_base_seconds=60)
    ids = _queue(engine, settings, ("i-1", "120", None), ("i-2", "130", None), ("i-3", "140", None))
    down = build_sender(
        slack_settings(db_url, stub, api_base_url=closed_port_url()).slack,
        retry_interval_seconds=0.01,
    )

    # Run 1: 500 twice (the call and ServerErrorRetryHandler's one retry) -> back off 60 s.
    stub.fail_next("500", "500")
    first = deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0)
    assert first.posted == 0 and "internal_error" in (first.stopped or "")
    rows = outbox_rows(engine)
    assert [r["attempts"] for r in rows] == [1, 0, 0]  # only the first was tried
    assert {r["next_attempt_at"] for r in rows} == {T0 + dt.timedelta(seconds=60)}
    assert [a.outcome for a in stub.attempts()] == ["500", "500"]

    # Before the backoff ends nothing is sent and Slack is not called.
    early = deliver_pending(
        engine, sender=sender_for(settings), settings=settings, as_of=T0 + dt.timedelta(seconds=30)
    )
    assert (early.posted, early.stopped, len(stub.attempts())) == (0, None, 2)

    # Run 2: connection refused -> 2nd attempt, backoff doubles to 120 s.
    second = deliver_pending(engine, sender=down, settings=settings, as_of=T0 + HOUR)
    assert "cannot reach Slack" in (second.stopped or "")
    rows = outbox_rows(engine)
    assert rows[0]["attempts"] == 2
    assert rows[0]["next_attempt_at"] == T0 + HOUR + dt.timedelta(seconds=120)

    # Run 3: the stub does not answer within the 0.5 s timeout.
    stub.fail_next("timeout")
    third = deliver_pending(
        engine, sender=sender_for(settings), settings=settings, as_of=T0 + 2 * HOUR
    )
    assert "did not answer within 0.5 s" in (third.stopped or "")
    assert outbox_rows(engine)[0]["attempts"] == 3

    # Back: everything goes out once, in order, and a further run sends nothing.
    back = deliver_pending(
        engine, sender=sender_for(settings), settings=settings, as_of=T0 + 3 * HOUR
    )
    assert (back.posted, back.stopped) == (3, None)
    assert [p.body["text"].split(": ")[1].split(",")[0] for p in stub.posts()] == [
        "i-1",
        "i-2",
        "i-3",
    ]
    rows = outbox_rows(engine)
    assert [(r["finding_id"], r["status"]) for r in rows] == [(fid, "sent") for fid in ids]
    assert [r["attempts"] for r in rows] == [4, 1, 1]
    assert (
        deliver_pending(
            engine, sender=sender_for(settings), settings=settings, as_of=T0 + 4 * HOUR
        ).posted
        == 0
    )
    assert len(stub.posts()) == 3


def test_a_permanent_rejection_is_failed_with_the_reason_and_never_retried(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)
    _queue(engine, settings, ("i-lost", "500", None), ("i-ok", "200", None))
    stub.fail_next("channel_not_found")
    report = deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0)
    assert (report.failed, report.posted, report.rejections) == (1, 1, ["channel_not_found"])
    rows = outbox_rows(engine)
    assert [(r["status"], r["last_error"]) for r in rows] == [
        ("failed", "channel_not_found"),
        ("sent", None),
    ]
    deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0 + 24 * HOUR)
    assert [a.outcome for a in stub.attempts()] == ["channel_not_found", "ok"]


def test_invalid_auth_fails_that_row_and_stops_the_run(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)
    _queue(engine, settings, ("i-a", "500", None), ("i-b", "200", None))
    stub.fail_next("invalid_auth")
    report = deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0)
    assert report.stopped == "Slack rejected the message: invalid_auth"
    assert [(r["status"], r["last_error"]) for r in outbox_rows(engine)] == [
        ("failed", "invalid_auth"),
        ("pending", None),
    ]
    assert len(stub.attempts()) == 1


def test_gives_up_after_max_attempts(engine: Engine, db_url: str, stub: SlackStub) -> None:
    settings = slack_settings(db_url, stub, max_attempts=2, server_error_retries=0)
    _queue(engine, settings, ("i-x", "500", None))
    stub.fail_next("500", "500")
    deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0)
    report = deliver_pending(
        engine, sender=sender_for(settings), settings=settings, as_of=T0 + HOUR
    )
    assert report.failed == 1
    [row] = outbox_rows(engine)
    assert (row["status"], row["attempts"]) == ("failed", 2)
    assert row["last_error"] == "gave up after 2 attempts: Slack answered internal_error (HTTP 500)"


def test_a_finding_snoozed_before_delivery_is_skipped_not_posted(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)
    [fid] = _queue(engine, settings, ("i-snooze", "400", None))
    set_status(engine, fid, "snoozed")
    report = deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0)
    assert (report.posted, report.skipped) == (0, 1)
    assert [(r["status"], r["last_error"]) for r in outbox_rows(engine)] == [
        ("skipped", "finding is snoozed")
    ]
    assert stub.requests == []


def test_resolving_posts_a_thread_reply_to_the_original(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)
    [fid] = _queue(engine, settings, ("i-fixed", "180", "nlp"))
    deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0)
    set_status(engine, fid, "resolved")
    with engine.begin() as connection:
        resolved = change(fid, "180", event="resolved", status="resolved")
        assert enqueue_for_changes(connection, [resolved], settings=settings, as_of=T0 + HOUR) == 1
        assert enqueue_for_changes(connection, [resolved], settings=settings, as_of=T0 + HOUR) == 0
    report = deliver_pending(
        engine, sender=sender_for(settings), settings=settings, as_of=T0 + HOUR
    )
    assert report.posted == 1
    original, reply = stub.posts()
    assert "thread_ts" not in original.body
    assert reply.body["thread_ts"] == "1727697600.000001"
    assert reply.body["channel"] == "#nlp-costs"
    assert reply.body["text"].startswith("Resolved: Idle GPU on i-fixed (was $180.00 a month)")
    assert [r["thread_ts"] for r in outbox_rows(engine)] == [None, "1727697600.000001"]


def test_digest_mode_posts_one_message_per_channel_per_day(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub, digest=True, digest_top_n=2)
    _queue(
        engine,
        settings,
        ("i-n1", "150", "nlp"),
        ("i-n2", "900.50", "nlp"),
        ("i-n3", "120.25", "nlp"),
        ("i-f1", "333", None),
    )
    report = deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0)
    assert (report.posted, report.sent) == (2, 4)
    nlp, finops = stub.posts()
    assert nlp.body["channel"] == "#nlp-costs" and finops.body["channel"] == "#finops"
    # 900.50 + 150 + 120.25 = 1,170.75; top 2 listed, the third summed.
    assert nlp.body["text"] == "spendwatch digest 2024-09-30: 3 findings, $1,170.75 a month"
    lines = [b["text"]["text"] for b in nlp.body["blocks"] if b["type"] == "section"]
    assert [line.split("/month")[0] for line in lines] == ["*$900.50", "*$150.00"]
    assert nlp.body["blocks"][-1]["elements"][0]["text"].startswith(
        "…and 1 more worth $120.25 a month."
    )
    rows = outbox_rows(engine)
    digests = [r for r in rows if r["event"] == "digest"]
    assert [(d["channel"], d["dedupe_key"]) for d in digests] == [
        ("#nlp-costs", "digest:#nlp-costs:2024-09-30"),
        ("#finops", "digest:#finops:2024-09-30"),
    ]
    assert {
        r["slack_ts"] for r in rows if r["event"] == "opened" and r["channel"] == "#nlp-costs"
    } == {"1727697600.000001"}

    # A new finding later the same day waits for tomorrow's digest.
    _queue(engine, settings, ("i-n4", "210", "nlp"))
    later = deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0 + HOUR)
    assert (later.posted, later.deferred) == (0, 1)
    assert outbox_rows(engine)[-1]["next_attempt_at"] == dt.datetime(2024, 10, 1, tzinfo=dt.UTC)
    tomorrow = deliver_pending(
        engine, sender=sender_for(settings), settings=settings, as_of=T0 + 13 * HOUR
    )
    assert tomorrow.posted == 1
    assert (
        stub.posts()[-1].body["text"] == "spendwatch digest 2024-10-01: 1 finding, $210.00 a month"
    )
