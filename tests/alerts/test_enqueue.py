"""What gets queued: threshold, escalation, reminders, quiet statuses, idempotency."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alerts.outbox import enqueue_for_changes, enqueue_reminders
from tests.alerts.conftest import T0, add_finding, change, outbox_rows, slack_settings
from tests.alerts.slack_stub import SlackStub
from warehouse.schema import findings, notification_outbox

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def _events(engine: Engine) -> list[tuple[str, str]]:
    return [(r["event"], r["dedupe_key"]) for r in outbox_rows(engine)]


def test_opening_alerts_only_at_or_above_the_threshold_and_never_for_quiet_findings(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)  # min_monthly_savings = 100
    with engine.begin() as c:
        small = add_finding(c, resource_id="i-small", savings="99.99")
        edge = add_finding(c, resource_id="i-edge", savings="100.00", owner="ana", team="nlp")
        snoozed = add_finding(c, resource_id="i-snoozed", savings="900", status="snoozed")
        dismissed = add_finding(c, resource_id="i-dismissed", savings="900", status="dismissed")
        changes = [
            change(small, "99.99"),
            change(edge, "100.00"),
            change(snoozed, "900", status="snoozed"),
            change(dismissed, "900", status="dismissed"),
        ]
        assert enqueue_for_changes(c, changes, settings=settings, as_of=T0) == 1
        # The same changes again (a retried analyze): dedupe keys make it a no-op.
        assert enqueue_for_changes(c, changes, settings=settings, as_of=T0) == 0
    [row] = outbox_rows(engine)
    assert (row["event"], row["dedupe_key"], row["channel"]) == (
        "opened",
        f"finding:{edge}:opened:0",
        "#nlp-costs",
    )
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("pending", 0, T0)
    assert row["payload"]["monthly_savings"] == "100.00"
    assert row["payload"]["finding"]["owner"] == "ana"


def test_the_enqueue_rolls_back_with_the_callers_transaction(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)
    try:
        with engine.begin() as c:
            fid = add_finding(c, resource_id="i-rollback", savings="500")
            enqueue_for_changes(c, [change(fid, "500")], settings=settings, as_of=T0)
            raise RuntimeError("analyze failed after storing")
    except RuntimeError:
        pass
    assert outbox_rows(engine) == []


def test_escalation_needs_one_and_a_half_times_the_last_alerted_saving(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)  # escalation_ratio = 1.5
    with engine.begin() as c:
        fid = add_finding(c, resource_id="i-grow", savings="200")
        enqueue_for_changes(c, [change(fid, "200")], settings=settings, as_of=T0)
        # 299.99 < 1.5 × 200: the store may call it "escalated", the alert policy does not.
        quiet = change(fid, "299.99", event="escalated", previous="200")
        assert enqueue_for_changes(c, [quiet], settings=settings, as_of=T0 + DAY) == 0
        loud = change(fid, "300", event="updated", previous="299.99")
        assert enqueue_for_changes(c, [loud], settings=settings, as_of=T0 + 2 * DAY) == 1
        # The next escalation is measured from 300: 449 stays quiet, 450 alerts.
        assert (
            enqueue_for_changes(
                c, [change(fid, "449", event="updated")], settings=settings, as_of=T0
            )
            == 0
        )
        assert (
            enqueue_for_changes(
                c, [change(fid, "450", event="updated")], settings=settings, as_of=T0
            )
            == 1
        )
    assert _events(engine) == [
        ("opened", f"finding:{fid}:opened:0"),
        ("escalated", f"finding:{fid}:escalated:0:300"),
        ("escalated", f"finding:{fid}:escalated:0:450"),
    ]
    assert outbox_rows(engine)[1]["payload"]["previous_savings"] == "200"


def test_a_finding_that_grows_past_the_threshold_alerts_then(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)
    with engine.begin() as c:
        fid = add_finding(c, resource_id="i-late", savings="60")
        assert enqueue_for_changes(c, [change(fid, "60")], settings=settings, as_of=T0) == 0
        grown = change(fid, "120", event="updated", previous="60")
        assert enqueue_for_changes(c, [grown], settings=settings, as_of=T0 + DAY) == 1
    assert _events(engine) == [("opened", f"finding:{fid}:opened:0")]


def _mark_sent(c: Connection, *, at: dt.datetime) -> None:
    """What a successful delivery does to pending rows (delivery itself is tested elsewhere)."""
    pending = notification_outbox.c.status == "pending"
    c.execute(sa.update(notification_outbox).where(pending).values(status="sent", sent_at=at))


def test_reminders_every_seven_days_after_the_last_alert_went_out(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)
    with engine.begin() as c:
        fid = add_finding(c, resource_id="i-forgotten", savings="250")
        never = add_finding(c, resource_id="i-never-alerted", savings="250")  # no alert yet
        enqueue_for_changes(c, [change(fid, "250")], settings=settings, as_of=T0)
    with engine.begin() as c:
        # Still pending (Slack down all week): no reminder piles up on top of it.
        assert enqueue_reminders(c, settings=settings, as_of=T0 + 8 * DAY) == 0
        _mark_sent(c, at=T0 + DAY)  # it went out a day late; reminders count from then
        assert enqueue_reminders(c, settings=settings, as_of=T0 + 7 * DAY + 23 * HOUR) == 0
        assert enqueue_reminders(c, settings=settings, as_of=T0 + 8 * DAY) == 1
        assert enqueue_reminders(c, settings=settings, as_of=T0 + 8 * DAY) == 0
        _mark_sent(c, at=T0 + 8 * DAY)
        assert enqueue_reminders(c, settings=settings, as_of=T0 + 14 * DAY) == 0
        assert enqueue_reminders(c, settings=settings, as_of=T0 + 15 * DAY) == 1
        _mark_sent(c, at=T0 + 15 * DAY)
        # Snoozed: no reminder even when it is due.
        c.execute(sa.update(findings).where(findings.c.id == fid).values(status="snoozed"))
        assert enqueue_reminders(c, settings=settings, as_of=T0 + 30 * DAY) == 0
    assert _events(engine) == [
        ("opened", f"finding:{fid}:opened:0"),
        ("reminder", f"finding:{fid}:reminder:0:2024-10-08"),
        ("reminder", f"finding:{fid}:reminder:0:2024-10-15"),
    ]
    assert never not in {r["finding_id"] for r in outbox_rows(engine)}


def test_resolved_without_an_alert_is_silent_and_a_reopened_finding_starts_a_new_cycle(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub)
    with engine.begin() as c:
        silent = add_finding(c, resource_id="i-small", savings="10")
        loud = add_finding(c, resource_id="i-loud", savings="500")
        enqueue_for_changes(
            c, [change(silent, "10"), change(loud, "500")], settings=settings, as_of=T0
        )
        gone = [
            change(silent, "10", event="resolved", status="resolved"),
            change(loud, "500", event="resolved", status="resolved"),
        ]
        assert enqueue_for_changes(c, gone, settings=settings, as_of=T0 + DAY) == 1
        back = change(loud, "500", event="reopened")
        assert enqueue_for_changes(c, [back], settings=settings, as_of=T0 + 2 * DAY) == 1
    rows = outbox_rows(engine)
    assert [(r["event"], r["dedupe_key"]) for r in rows] == [
        ("opened", f"finding:{loud}:opened:0"),
        ("resolved", f"finding:{loud}:resolved:0"),
        ("opened", f"finding:{loud}:opened:1"),
    ]
    assert rows[1]["payload"]["original_id"] == rows[0]["id"]
    assert rows[2]["payload"]["reopened"] is True
