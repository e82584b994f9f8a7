"""The notification outbox: alerts are written with the findings, and sent afterwards.

``enqueue_for_changes`` runs inside the caller's transaction (analyze changes the findings in
that same transaction), so a finding and its notification are committed together or not at
all. ``deliver_pending`` later posts the due rows to Slack, one committed step per message.
The rules for *what* to send are in :mod:`alerts.policy`.

Delivery guarantees:

* at least once, one row per message. A row is marked ``sent`` (with Slack's ts) in its own
  transaction right after Slack accepted it. **Crash window:** if the process dies after Slack
  accepted a message but before that commit, the row is still pending and that one message is
  posted again on the next run. Nothing else is duplicated, and nothing is lost.
* transient failures (5xx, 429 after its Retry-After, timeouts, connection refused) leave the
  row pending with ``next_attempt_at`` moved back exponentially; the run stops at the first
  one, and the rows it did not try wait until the same time. After ``max_attempts`` the row
  is marked ``failed``.
* permanent rejections (``channel_not_found``, ``invalid_blocks``, ``invalid_auth``…) are
  marked ``failed`` with Slack's reason and never retried; a rejected credential stops the run.
* a finding snoozed, dismissed or resolved before its alert went out is marked ``skipped``.
* digest mode (``slack.digest``): one message per channel per UTC day, recorded as an
  ``event='digest'`` row; its member rows are marked sent with the digest's ts.

Run one ``alert`` at a time (the scheduler runs exactly one): two concurrent runs could both
post the same due row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from alerts import policy
from alerts.delivery import DeliveryReport, RecordingSender, run_deliveries
from alerts.routing import MentionResolver, route_channel
from alerts.slack import SlackSender
from analytics.findings import FindingChange
from spendwatch.config import Settings
from warehouse.schema import findings, notification_outbox

OUTBOX = notification_outbox
SNAPSHOT_COLUMNS = (
    "id",
    "kind",
    "resource_id",
    "provider",
    "account_id",
    "region",
    "owner",
    "team",
    "currency",
    "recommendation",
    "evidence",
    "confidence",
)


def enqueue_for_changes(
    connection: Connection,
    changes: Sequence[FindingChange],
    *,
    settings: Settings,
    as_of: dt.datetime,
) -> int:
    """Write the notifications these changes call for; returns how many rows were new."""
    if not changes:
        return 0
    slack = settings.slack
    ids = sorted({change.finding_id for change in changes})
    rows = _findings_by_id(connection, ids)
    histories = _histories(connection, ids)
    thresholds = thresholds_for(settings)
    written = 0
    for change in changes:
        finding = rows.get(change.finding_id)
        if finding is None:
            continue
        history = histories.get(change.finding_id, policy.History())
        decision = policy.decide(
            change, history, thresholds=thresholds, evidence=finding["evidence"] or {}
        )
        if decision is None:
            continue
        payload: dict[str, Any] = {
            "finding": _snapshot(finding, monthly_savings=change.monthly_savings),
            "monthly_savings": format(change.monthly_savings, "f"),
        }
        if decision.event == "escalated" and history.baseline is not None:
            payload["previous_savings"] = format(history.baseline, "f")
        if decision.reopened:
            payload["reopened"] = True
        if decision.event == "resolved":
            payload["original_id"] = history.original_id
        channel = route_channel(slack, owner=finding["owner"], team=finding["team"])
        written += _insert(
            connection,
            dedupe_key=decision.dedupe_key,
            finding_id=change.finding_id,
            event=decision.event,
            channel=channel,
            payload=payload,
            as_of=as_of,
        )
    return written


def thresholds_for(settings: Settings) -> policy.Thresholds:
    slack = settings.slack
    return policy.Thresholds(
        min_savings=Decimal(slack.min_monthly_savings),
        escalation_ratio=Decimal(slack.escalation_ratio),
        min_anomaly_amount=Decimal(slack.min_anomaly_amount),
        # A digest line costs nobody a notification, so unmonitored GPUs always go in one.
        alert_unmonitored=slack.alert_unmonitored or slack.digest,
    )


def enqueue_reminders(connection: Connection, *, settings: Settings, as_of: dt.datetime) -> int:
    """A reminder for each open finding whose last alert is ``reminder_days`` old or older."""
    slack = settings.slack
    minimum = Decimal(slack.min_monthly_savings)
    open_rows = connection.execute(
        sa.select(findings).where(
            findings.c.status == "open", findings.c.kind.not_in(sorted(policy.NO_REMINDER_KINDS))
        )
    )
    candidates = {row.id: row._mapping for row in open_rows if row.monthly_savings >= minimum}
    histories = _histories(connection, sorted(candidates))
    written = 0
    for finding_id, finding in candidates.items():
        history = histories.get(finding_id)
        if history is None:
            continue
        if not policy.reminder_due(history, as_of=as_of, reminder_days=slack.reminder_days):
            continue
        written += _insert(
            connection,
            dedupe_key=policy.reminder_key(finding_id, history, as_of=as_of),
            finding_id=finding_id,
            event="reminder",
            channel=route_channel(slack, owner=finding["owner"], team=finding["team"]),
            payload={
                "finding": _snapshot(finding, monthly_savings=finding["monthly_savings"]),
                "monthly_savings": format(finding["monthly_savings"], "f"),
            },
            as_of=as_of,
        )
    return written


def deliver_pending(
    engine: Engine,
    *,
    sender: SlackSender,
    settings: Settings,
    as_of: dt.datetime,
    limit: int = 500,
    mentions: MentionResolver | None = None,
) -> DeliveryReport:
    """Post every due pending row (at most ``limit``), committing after each message."""
    resolver = mentions or MentionResolver(sender.lookup_email if sender.threads else None)
    with engine.connect() as connection:
        return run_deliveries(
            connection,
            sender=sender,
            settings=settings,
            as_of=as_of,
            limit=limit,
            mentions=resolver,
            checkpoint=connection.commit,
        )


def preview_pending(
    engine: Engine, *, settings: Settings, as_of: dt.datetime, limit: int = 500
) -> list[dict[str, Any]]:
    """What ``deliver_pending`` would post now, reminders included; the database is untouched.

    The same code path runs inside a transaction that is rolled back, against a sender that
    records instead of posting. Owners given as emails are not looked up (no network).
    """
    has_token = bool(settings.slack.bot_token.get_secret_value().strip())
    has_webhook = bool(settings.slack.webhook_url.get_secret_value().strip())
    recorder = RecordingSender(
        threads=has_token or not has_webhook, fixed_channel=not has_token and has_webhook
    )
    with engine.connect() as connection:
        try:
            enqueue_reminders(connection, settings=settings, as_of=as_of)
            run_deliveries(
                connection,
                sender=recorder,
                settings=settings,
                as_of=as_of,
                limit=limit,
                mentions=MentionResolver(None),
                checkpoint=lambda: None,
            )
        finally:
            connection.rollback()
    return recorder.posts


def _insert(
    connection: Connection,
    *,
    dedupe_key: str,
    finding_id: int,
    event: str,
    channel: str,
    payload: dict[str, Any],
    as_of: dt.datetime,
) -> int:
    values = {
        "dedupe_key": dedupe_key,
        "finding_id": finding_id,
        "event": event,
        "channel": channel,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": as_of,
        "created_at": as_of,
    }
    insert: Callable[[sa.Table], Any] = (
        postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    )
    statement = (
        insert(OUTBOX)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OUTBOX.c.id)
    )
    # rowcount is -1 for this statement on psycopg; the returned ids are exact on both dialects.
    return len(connection.execute(statement).all())


def _findings_by_id(connection: Connection, ids: Iterable[int]) -> dict[int, Mapping[Any, Any]]:
    result = connection.execute(sa.select(findings).where(findings.c.id.in_(list(ids))))
    return {row.id: row._mapping for row in result}


def _histories(connection: Connection, ids: Sequence[int]) -> dict[int, policy.History]:
    if not ids:
        return {}
    columns = ("id", "finding_id", "event", "status", "payload", "created_at", "sent_at")
    query = sa.select(*(OUTBOX.c[name] for name in columns)).where(
        OUTBOX.c.finding_id.in_(list(ids)), OUTBOX.c.event != "digest"
    )
    grouped: dict[int, list[Mapping[Any, Any]]] = {}
    for row in connection.execute(query):
        grouped.setdefault(row.finding_id, []).append(row._mapping)
    return {finding_id: policy.history_of(rows) for finding_id, rows in grouped.items()}


def _snapshot(finding: Mapping[Any, Any], *, monthly_savings: Decimal) -> dict[str, Any]:
    """The finding as it was when the alert was decided: the message says what was decided."""
    snapshot = {column: finding[column] for column in SNAPSHOT_COLUMNS}
    snapshot["monthly_savings"] = format(monthly_savings, "f")
    return snapshot
