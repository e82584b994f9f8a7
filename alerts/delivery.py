"""The delivery loop behind :func:`alerts.outbox.deliver_pending` (guarantees are described there).

It works on one connection and calls ``checkpoint`` (a commit, or nothing in a dry run) after
each settled message, and before it first talks to Slack, so no transaction is held open across
a network call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerts import policy
from alerts.digest import digest_message
from alerts.messages import Message, finding_message, resolved_message
from alerts.routing import MentionResolver
from alerts.slack import Posted, SlackRejected, SlackSender, SlackUnavailable
from spendwatch.config import Settings
from warehouse.schema import findings, notification_outbox

log = logging.getLogger(__name__)
OUTBOX = notification_outbox
WEBHOOK_CHANNEL = "(webhook)"  # the digest "channel" when a webhook decides where posts land
Row = Mapping[Any, Any]  # a RowMapping: keyed by column name


@dataclasses.dataclass(slots=True)
class DeliveryReport:
    posted: int = 0  # messages Slack accepted
    sent: int = 0  # outbox rows settled by those messages (a digest settles several)
    failed: int = 0
    skipped: int = 0
    deferred: int = 0  # digest members waiting for tomorrow's digest
    waiting: int = 0  # resolved replies waiting for their original to be posted
    stopped: str | None = None  # why the run ended early
    rejections: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.stopped is None and self.failed == 0

    def summary(self) -> str:
        line = (
            f"posted {self.posted} Slack messages for {self.sent} notifications; "
            f"failed {self.failed}, skipped {self.skipped}, deferred {self.deferred}"
        )
        if self.rejections:
            line += f"; Slack rejected: {', '.join(sorted(set(self.rejections)))}"
        if self.stopped:
            line += f"; stopped: {self.stopped}, the rest stay pending and will be retried"
        return line


class RecordingSender:
    """Records what would be posted (dry run); hands out fake ts values so threads resolve."""

    def __init__(self, *, threads: bool, fixed_channel: bool) -> None:
        self.threads = threads
        self.fixed_channel = fixed_channel
        self.posts: list[dict[str, Any]] = []

    def post(self, *, channel: str, message: Message, thread_ts: str | None = None) -> Posted:
        ts = f"dry-run.{len(self.posts) + 1}"
        self.posts.append({"channel": channel, "thread_ts": thread_ts, "ts": ts, **message})
        return Posted(ts=ts, channel=channel)

    def lookup_email(self, email: str) -> str | None:
        return None


@dataclasses.dataclass(slots=True)
class _Run:
    connection: Connection
    sender: SlackSender
    settings: Settings
    as_of: dt.datetime
    mentions: MentionResolver
    checkpoint: Callable[[], None]
    report: DeliveryReport


def run_deliveries(
    connection: Connection,
    *,
    sender: SlackSender,
    settings: Settings,
    as_of: dt.datetime,
    limit: int,
    mentions: MentionResolver,
    checkpoint: Callable[[], None],
) -> DeliveryReport:
    due = [
        row._mapping
        for row in connection.execute(
            sa.select(OUTBOX)
            .where(OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= as_of)
            .order_by(OUTBOX.c.id)
            .limit(limit)
        )
    ]
    statuses = _finding_statuses(connection, {row["finding_id"] for row in due})
    checkpoint()
    run = _Run(connection, sender, settings, as_of, mentions, checkpoint, DeliveryReport())
    jobs: list[list[Row]] = [[row] for row in due]
    if settings.slack.digest:
        groups: dict[str, list[Row]] = {}
        for row in due:
            if row["event"] != "resolved":
                key = WEBHOOK_CHANNEL if sender.fixed_channel else row["channel"]
                groups.setdefault(key, []).append(row)
        # Digests first: a resolved reply threads on the digest its original went out in.
        replies: list[list[Row]] = [[row] for row in due if row["event"] == "resolved"]
        jobs = [*groups.values(), *replies]
    for position, job in enumerate(jobs):
        live = [row for row in job if not _skip_if_quiet(run, row, statuses)]
        if not live:
            continue
        try:
            if settings.slack.digest and live[0]["event"] != "resolved":
                _send_digest(run, live)
            else:
                _send_one(run, live[0])
        except SlackRejected as exc:
            _settle(run, live, status="failed", error=exc.reason)
            run.report.failed += len(live)
            run.report.rejections.append(exc.reason)
            if exc.fatal:
                run.report.stopped = str(exc)
                break
        except SlackUnavailable as exc:
            untried = [row for later in jobs[position + 1 :] for row in later]
            _back_off(run, live, untried, reason=str(exc))
            run.report.stopped = str(exc)
            break
    return run.report


def _send_one(run: _Run, row: Row) -> None:
    payload = row["payload"]
    finding = payload["finding"]
    dashboard = run.settings.slack.dashboard_base_url
    channel, thread_ts = row["channel"], None
    if row["event"] == "resolved":
        original = _row_by_id(run.connection, payload.get("original_id"))
        if original is None or original["status"] in ("failed", "skipped"):
            _settle(run, [row], status="skipped", error="the original alert was never posted")
            run.report.skipped += 1
            return
        if original["status"] == "pending":
            run.report.waiting += 1  # it is due again next run, after its original
            return
        if run.sender.threads and original["slack_ts"]:
            channel = original["channel"]
            thread_ts = original["thread_ts"] or original["slack_ts"]
        message = resolved_message(finding, dashboard_base_url=dashboard)
    else:
        previous = payload.get("previous_savings")
        message = finding_message(
            finding,
            event=row["event"],
            dashboard_base_url=dashboard,
            owner_mention=run.mentions.mention(finding.get("owner")),
            previous_savings=Decimal(previous) if previous is not None else None,
            reopened=bool(payload.get("reopened")),
        )
    posted = run.sender.post(channel=channel, message=message, thread_ts=thread_ts)
    _settle(run, [row], status="sent", slack_ts=posted.ts, thread_ts=thread_ts)
    run.report.posted += 1
    run.report.sent += 1


def _send_digest(run: _Run, rows: Sequence[Row]) -> None:
    slack = run.settings.slack
    channel = WEBHOOK_CHANNEL if run.sender.fixed_channel else rows[0]["channel"]
    day = run.as_of.astimezone(dt.UTC).date()
    key = policy.digest_key(channel, day)
    if run.connection.execute(sa.select(OUTBOX.c.id).where(OUTBOX.c.dedupe_key == key)).first():
        ids = [row["id"] for row in rows]
        run.connection.execute(
            sa.update(OUTBOX)
            .where(OUTBOX.c.id.in_(ids))
            .values(next_attempt_at=policy.next_midnight(run.as_of))
        )
        run.checkpoint()
        run.report.deferred += len(rows)
        return
    message = digest_message(
        [row["payload"]["finding"] for row in rows],
        day=day,
        top_n=slack.digest_top_n,
        dashboard_base_url=slack.dashboard_base_url,
    )
    posted = run.sender.post(channel=channel, message=message)
    run.connection.execute(
        sa.insert(OUTBOX).values(
            dedupe_key=key,
            finding_id=None,
            event="digest",
            channel=channel,
            payload={"message": message, "members": [row["id"] for row in rows]},
            status="sent",
            attempts=1,
            next_attempt_at=run.as_of,
            created_at=run.as_of,
            sent_at=run.as_of,
            slack_ts=posted.ts,
        )
    )
    _settle(run, rows, status="sent", slack_ts=posted.ts)
    run.report.posted += 1
    run.report.sent += len(rows)


def _skip_if_quiet(run: _Run, row: Row, statuses: Mapping[int, str]) -> bool:
    """An alert whose finding was snoozed, dismissed or resolved since it was queued is dropped."""
    status = statuses.get(row["finding_id"])
    if row["event"] == "resolved" or status in (None, "open"):
        return False
    _settle(run, [row], status="skipped", error=f"finding is {status}")
    run.report.skipped += 1
    return True


def _settle(
    run: _Run,
    rows: Sequence[Row],
    *,
    status: str,
    error: str | None = None,
    slack_ts: str | None = None,
    thread_ts: str | None = None,
) -> None:
    values: dict[str, Any] = {
        "status": status,
        "last_error": error,
        "attempts": OUTBOX.c.attempts + 1,
    }
    if status == "sent":
        values.update(sent_at=run.as_of, slack_ts=slack_ts, thread_ts=thread_ts)
    if status == "skipped":
        values["attempts"] = OUTBOX.c.attempts  # nothing was attempted
    ids = [row["id"] for row in rows]
    run.connection.execute(sa.update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(**values))
    run.checkpoint()


def _back_off(run: _Run, tried: Sequence[Row], untried: Sequence[Row], *, reason: str) -> None:
    slack = run.settings.slack
    retry_at = run.as_of
    for row in tried:
        attempts = int(row["attempts"]) + 1
        if attempts >= slack.max_attempts:
            values: dict[str, Any] = {
                "status": "failed",
                "last_error": f"gave up after {attempts} attempts: {reason}",
            }
            run.report.failed += 1
        else:
            delay = policy.backoff(attempts, base_seconds=slack.retry_base_seconds)
            retry_at = max(retry_at, run.as_of + delay)
            values = {"next_attempt_at": run.as_of + delay, "last_error": reason}
        run.connection.execute(
            sa.update(OUTBOX).where(OUTBOX.c.id == row["id"]).values(attempts=attempts, **values)
        )
    # Slack is down for everyone: the rows this run did not try wait as long, untouched otherwise.
    if untried and retry_at > run.as_of:
        ids = [row["id"] for row in untried]
        run.connection.execute(
            sa.update(OUTBOX)
            .where(OUTBOX.c.id.in_(ids), OUTBOX.c.next_attempt_at < retry_at)
            .values(next_attempt_at=retry_at)
        )
    run.checkpoint()
    log.warning("Slack unavailable (%s); %d notifications wait", reason, len(tried) + len(untried))


def _row_by_id(connection: Connection, outbox_id: int | None) -> Row | None:
    if outbox_id is None:
        return None
    row = connection.execute(sa.select(OUTBOX).where(OUTBOX.c.id == outbox_id)).first()
    return row._mapping if row else None


def _finding_statuses(connection: Connection, ids: set[int | None]) -> dict[int, str]:
    wanted = [fid for fid in ids if fid is not None]
    if not wanted:
        return {}
    query = sa.select(findings.c.id, findings.c.status).where(findings.c.id.in_(wanted))
    return {row.id: row.status for row in connection.execute(query)}
