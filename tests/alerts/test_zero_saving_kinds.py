"""Kinds that claim no monthly saving: spend anomalies and unmonitored GPUs (alerts.policy)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.outbox import deliver_pending, enqueue_for_changes, enqueue_reminders
from tests.alerts.conftest import (
    T0,
    add_finding,
    change,
    outbox_rows,
    sender_for,
    slack_settings,
)
from tests.alerts.slack_stub import SlackStub
from tests.alerts.test_kind_messages import ANOMALY, UNMONITORED
from warehouse.schema import notification_outbox

DAY = dt.timedelta(days=1)


def _anomaly_evidence(excess: str, *, rule_floor: str = "50.00") -> dict[str, Any]:
    evidence: dict[str, Any] = ANOMALY["evidence"]
    return evidence | {"excess_over_median": excess, "threshold_min_amount": rule_floor}


def _anomaly(excess: str, **kwargs: Any) -> dict[str, Any]:
    return {
        "kind": "spend_anomaly",
        "savings": "0",
        "evidence": _anomaly_evidence(excess, **kwargs),
    }


@pytest.mark.parametrize(
    ("excess", "rule_floor", "slack_floor", "alerts"),
    [
        ("190.00", "50.00", "50", True),
        ("50.00", "50.00", "50", True),  # "at least": the floor itself alerts
        ("49.99", "20.00", "50", False),  # the rule flagged it; Slack's floor is higher
        ("120.00", "150.00", "50", False),  # the rule's own floor, as recorded in the evidence
        ("190.00", "50.00", "200", False),
    ],
)
def test_an_anomaly_alerts_when_its_excess_reaches_both_floors(
    engine: Engine,
    db_url: str,
    stub: SlackStub,
    excess: str,
    rule_floor: str,
    slack_floor: str,
    alerts: bool,
) -> None:
    settings = slack_settings(db_url, stub, min_anomaly_amount=slack_floor)
    with engine.begin() as c:
        fid = add_finding(c, resource_id="AWS/1/EC2", **_anomaly(excess, rule_floor=rule_floor))
        opened = change(fid, "0", kind="spend_anomaly")
        assert enqueue_for_changes(c, [opened], settings=settings, as_of=T0) == int(alerts)
    if alerts:
        [row] = outbox_rows(engine)
        assert (row["event"], row["dedupe_key"]) == ("opened", f"finding:{fid}:anomaly")
        assert row["payload"]["finding"]["evidence"]["excess_over_median"] == excess


def test_the_same_anomaly_day_is_never_alerted_twice(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    # min_monthly_savings 0: the saving rules would remind about anything; anomalies still not.
    settings = slack_settings(db_url, stub, min_monthly_savings="0")
    with engine.begin() as c:
        fid = add_finding(c, resource_id="AWS/1/EC2", **_anomaly("190.00"))
        assert (
            enqueue_for_changes(
                c, [change(fid, "0", kind="spend_anomaly")], settings=settings, as_of=T0
            )
            == 1
        )
    with engine.begin() as c:
        sent = notification_outbox.c.status == "pending"
        c.execute(sa.update(notification_outbox).where(sent).values(status="sent", sent_at=T0))
        later = [
            # the day leaves the rule's 3-day window: no "resolved" reply for a past day
            change(fid, "0", kind="spend_anomaly", event="resolved", status="resolved"),
            # billing restated, the day is flagged again: still the same day, still quiet
            change(fid, "0", kind="spend_anomaly", event="reopened"),
            change(fid, "0", kind="spend_anomaly"),
        ]
        for step, moment in enumerate(later, start=1):
            assert enqueue_for_changes(c, [moment], settings=settings, as_of=T0 + step * DAY) == 0
        assert enqueue_reminders(c, settings=settings, as_of=T0 + 30 * DAY) == 0
    assert [r["event"] for r in outbox_rows(engine)] == ["opened"]


def test_unmonitored_gpus_alert_only_when_configured_or_in_a_digest(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    evidence = UNMONITORED["evidence"]
    with engine.begin() as c:
        quiet, asked, digest = (
            add_finding(
                c, resource_id=f"i-{n}", savings="0", kind="unmonitored_gpu", evidence=evidence
            )
            for n in ("quiet", "asked", "digest")
        )
        for fid, options in (
            (quiet, {}),
            (asked, {"alert_unmonitored": True}),
            (digest, {"digest": True}),
        ):
            settings = slack_settings(db_url, stub, min_monthly_savings="0", **options)
            opened = change(fid, "0", kind="unmonitored_gpu")
            enqueue_for_changes(c, [opened], settings=settings, as_of=T0)
        settings = slack_settings(db_url, stub, min_monthly_savings="0", alert_unmonitored=True)
        # No reminders: a week later the GPU is still unmonitored, and nobody is nagged.
        assert enqueue_reminders(c, settings=settings, as_of=T0 + 30 * DAY) == 0
        # Telemetry arrives: the alerted one gets its resolved reply.
        gone = change(asked, "0", kind="unmonitored_gpu", event="resolved", status="resolved")
        assert enqueue_for_changes(c, [gone], settings=settings, as_of=T0 + DAY) == 1
    assert [(r["finding_id"], r["event"]) for r in outbox_rows(engine)] == [
        (asked, "opened"),
        (digest, "opened"),
        (asked, "resolved"),
    ]


def test_digest_mode_posts_anomalies_and_unmonitored_gpus_in_the_one_daily_message(
    engine: Engine, db_url: str, stub: SlackStub
) -> None:
    settings = slack_settings(db_url, stub, digest=True)
    with engine.begin() as c:
        idle = add_finding(c, resource_id="i-idle", savings="1185.52")
        spike = add_finding(c, resource_id="AWS/111122223333/Amazon EC2", **_anomaly("190.00"))
        blind = add_finding(
            c,
            resource_id="i-0feedc0ffee000001",
            savings="0",
            kind="unmonitored_gpu",
            evidence=UNMONITORED["evidence"],
        )
        changes = [
            change(idle, "1185.52"),
            change(spike, "0", kind="spend_anomaly"),
            change(blind, "0", kind="unmonitored_gpu"),
        ]
        assert enqueue_for_changes(c, changes, settings=settings, as_of=T0) == 3
    report = deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0)
    assert (report.posted, report.sent) == (1, 3)
    [post] = stub.posts()
    assert post.body["text"] == (
        "spendwatch digest 2024-09-30: 1 finding, $1,185.52 a month; 1 spend anomaly; "
        "1 unmonitored GPU instance"
    )
    texts = [block["text"]["text"] for block in post.body["blocks"] if block["type"] == "section"]
    assert any(text.startswith("*+$190.00* on 2024-09-30 · `AWS/") for text in texts)
