"""When a finding deserves a Slack message. Pure: outbox history and a change in, a decision out.

* opened: the first alert of a cycle, when the monthly saving is at least ``min_monthly_savings``
  (a finding that opens small and grows past the threshold alerts then);
* escalated: the saving grew to ``escalation_ratio`` × the last alerted amount;
* reminder: still open ``reminder_days`` after its last alert;
* resolved: a thread reply to the cycle's original alert; a finding never alerted stays quiet;
* snoozed and dismissed findings never alert.

A *cycle* runs from an alert to its ``resolved`` reply; a finding that comes back starts a new
one. Dedupe keys carry the cycle, so enqueueing the same change twice writes one row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from analytics.findings import FindingChange

QUIET_STATUSES = frozenset({"snoozed", "dismissed"})
BASELINE_EVENTS = frozenset({"opened", "escalated"})  # the amounts escalation compares against
ALERT_EVENTS = BASELINE_EVENTS | {"reminder"}
MAX_BACKOFF = dt.timedelta(hours=6)


@dataclasses.dataclass(frozen=True, slots=True)
class History:
    """What the outbox already holds for one finding, in its current cycle."""

    cycle: int = 0  # resolved replies so far
    original_id: int | None = None  # the cycle's "opened" row: the resolved reply threads on it
    baseline: Decimal | None = None  # saving in the last opened/escalated alert
    last_alert_at: dt.datetime | None = None  # when it went out (or was queued, if it did not)
    alert_pending: bool = False  # an alert is still waiting to go out: no reminder on top of it


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    event: str  # opened | escalated | resolved (reminders come from reminder_due)
    dedupe_key: str
    reopened: bool = False


def history_of(rows: Iterable[Mapping[str, Any]]) -> History:
    """Fold one finding's outbox rows (any order) into its current cycle."""
    history = History()
    for row in sorted(rows, key=lambda r: int(r["id"])):
        event = row["event"]
        if event == "resolved":
            history = History(cycle=history.cycle + 1)
        elif event in ALERT_EVENTS:
            history = dataclasses.replace(
                history,
                original_id=history.original_id if event != "opened" else int(row["id"]),
                baseline=Decimal(row["payload"]["monthly_savings"])
                if event in BASELINE_EVENTS
                else history.baseline,
                last_alert_at=row["sent_at"] or row["created_at"],
                alert_pending=history.alert_pending or row["status"] == "pending",
            )
    return history


def decide(
    change: FindingChange, history: History, *, min_savings: Decimal, escalation_ratio: Decimal
) -> Decision | None:
    fid = change.finding_id
    if change.status in QUIET_STATUSES:
        return None
    if change.event == "resolved" or change.status == "resolved":
        if history.original_id is None:
            return None  # nobody was told it opened, so nobody needs to hear it closed
        return Decision("resolved", f"finding:{fid}:resolved:{history.cycle}")
    if change.status != "open":
        return None
    savings = change.monthly_savings
    if history.baseline is None:
        if savings < min_savings:
            return None
        reopened = history.cycle > 0 or change.event == "reopened"
        return Decision("opened", f"finding:{fid}:opened:{history.cycle}", reopened=reopened)
    if savings >= history.baseline * escalation_ratio:
        amount = format(savings.normalize(), "f")
        return Decision("escalated", f"finding:{fid}:escalated:{history.cycle}:{amount}")
    return None


def reminder_due(history: History, *, as_of: dt.datetime, reminder_days: int) -> bool:
    if history.last_alert_at is None or history.baseline is None or history.alert_pending:
        return False
    return as_of - history.last_alert_at >= dt.timedelta(days=reminder_days)


def reminder_key(finding_id: int, history: History, *, as_of: dt.datetime) -> str:
    return f"finding:{finding_id}:reminder:{history.cycle}:{as_of.date().isoformat()}"


def digest_key(channel: str, day: dt.date) -> str:
    return f"digest:{channel}:{day.isoformat()}"


def backoff(attempts: int, *, base_seconds: int) -> dt.timedelta:
    """Exponential: base, 2×base, 4×base… after the 1st, 2nd, 3rd failed attempt; capped."""
    return min(dt.timedelta(seconds=base_seconds * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def next_midnight(as_of: dt.datetime) -> dt.datetime:
    day = as_of.astimezone(dt.UTC).date() + dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
