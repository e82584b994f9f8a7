"""When a finding deserves a Slack message. Pure: outbox history and a change in, a decision out.

* opened: the first alert of a cycle, when the monthly saving is at least ``min_monthly_savings``
  (a finding that opens small and grows past the threshold alerts then);
* escalated: the saving grew to ``escalation_ratio`` × the last alerted amount;
* reminder: still open ``reminder_days`` after its last alert;
* resolved: a thread reply to the cycle's original alert; a finding never alerted stays quiet;
* snoozed and dismissed findings never alert.

Kinds that claim no monthly saving follow their own rules:

* ``spend_anomaly``: one alert when the anomaly opens, if its excess over the baseline median
  (from the evidence) is at least both the rule's ``min_amount`` (recorded in the evidence) and
  ``[slack] min_anomaly_amount``. An anomaly is one past day, so there is no escalation, no
  reminder and no resolved reply (it "resolves" when the day leaves the rule's window), and its
  dedupe key has no cycle: the same day is never alerted twice, even if the finding comes back.
* ``unmonitored_gpu``: nothing to save, something to install. It alerts once per cycle when it
  opens, and only if ``[slack] alert_unmonitored`` is on or Slack runs in digest mode (where a
  line costs nobody a notification); no escalation or reminder; resolved replies as usual.

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
ANOMALY_KIND = "spend_anomaly"
UNMONITORED_KIND = "unmonitored_gpu"
NO_REMINDER_KINDS = frozenset({ANOMALY_KIND, UNMONITORED_KIND})  # nothing grows, nothing to nag


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


@dataclasses.dataclass(frozen=True, slots=True)
class Thresholds:
    """The ``[slack]`` numbers :func:`decide` needs, already parsed."""

    min_savings: Decimal
    escalation_ratio: Decimal
    min_anomaly_amount: Decimal = Decimal(50)
    alert_unmonitored: bool = False


def decide(
    change: FindingChange,
    history: History,
    *,
    thresholds: Thresholds,
    evidence: Mapping[str, Any] | None = None,
) -> Decision | None:
    """``evidence`` is the finding's; only ``spend_anomaly`` reads it (its excess and floor)."""
    if change.status in QUIET_STATUSES:
        return None
    if change.kind == ANOMALY_KIND:
        return _decide_anomaly(change, history, thresholds=thresholds, evidence=evidence or {})
    if change.kind == UNMONITORED_KIND:
        return _decide_unmonitored(change, history, thresholds=thresholds)
    return _decide_saving(
        change,
        history,
        min_savings=thresholds.min_savings,
        escalation_ratio=thresholds.escalation_ratio,
    )


def anomaly_excess(evidence: Mapping[str, Any]) -> tuple[Decimal, Decimal] | None:
    """(excess over the baseline median, the rule's min_amount) from the evidence, if present."""
    excess, floor = evidence.get("excess_over_median"), evidence.get("threshold_min_amount")
    if excess is None:
        return None
    return Decimal(str(excess)), Decimal(str(floor if floor is not None else 0))


def _decide_anomaly(
    change: FindingChange,
    history: History,
    *,
    thresholds: Thresholds,
    evidence: Mapping[str, Any],
) -> Decision | None:
    amounts = anomaly_excess(evidence)
    if change.status != "open" or history.original_id is not None or amounts is None:
        return None
    excess, rule_floor = amounts
    if excess < max(rule_floor, thresholds.min_anomaly_amount):
        return None
    return Decision("opened", f"finding:{change.finding_id}:anomaly")


def _decide_unmonitored(
    change: FindingChange, history: History, *, thresholds: Thresholds
) -> Decision | None:
    fid = change.finding_id
    if change.event == "resolved" or change.status == "resolved":
        if history.original_id is None:
            return None
        return Decision("resolved", f"finding:{fid}:resolved:{history.cycle}")
    if change.status != "open" or history.baseline is not None or not thresholds.alert_unmonitored:
        return None
    reopened = history.cycle > 0 or change.event == "reopened"
    return Decision("opened", f"finding:{fid}:opened:{history.cycle}", reopened=reopened)


def _decide_saving(
    change: FindingChange, history: History, *, min_savings: Decimal, escalation_ratio: Decimal
) -> Decision | None:
    fid = change.finding_id
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
