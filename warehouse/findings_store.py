"""The findings table and its lifecycle. The only module that writes to ``findings``.

States::

    open ──snooze──► snoozed ──(until passes, rule still fires)──► open
      │                 │
      ├──dismiss──► dismissed            (stays dismissed while the rule keeps firing)
      └──(rule stops firing)──► resolved ──(rule fires again)──► open

A finding's identity is its fingerprint (kind + resource + action), so re-running a rule updates
the same row. :func:`sync_findings` is idempotent: the same findings at the same ``as_of`` write
nothing and report no change. :func:`set_finding_status` is the one entry point for people's
actions (CLI and dashboard).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from analytics.dedupe import counted_savings, totals_by
from analytics.findings import Finding, FindingChange, FindingKind, utc
from analytics.policies import HOURS_PER_MONTH
from warehouse.errors import InputError
from warehouse.queries.gpu import billing_complete_through, usage_cost_between
from warehouse.schema import findings

Action = Literal["snooze", "dismiss", "reopen"]
STATUSES: tuple[str, ...] = ("open", "snoozed", "dismissed", "resolved")
KINDS: tuple[str, ...] = get_args(FindingKind)
LIVE_STATUSES: tuple[str, ...] = ("open", "snoozed")
# Columns a rule run rewrites on every sighting; the lifecycle columns are handled separately.
_DATA_COLUMNS = (
    "recommendation",
    "monthly_savings",
    "currency",
    "confidence",
    "evidence",
    "provider",
    "account_id",
    "region",
    "owner",
    "team",
)


def sync_findings(
    connection: Connection,
    found: Sequence[Finding],
    *,
    as_of: dt.datetime,
    kinds: Iterable[str],
    realized_window_days: int = 7,
) -> list[FindingChange]:
    """Store one run of the rules for ``kinds`` and return what changed.

    Rows of ``kinds`` the run did not produce are resolved; rows of other kinds are untouched.
    Resolved rows whose ``realized_window_days`` after resolution are fully billed get their
    ``realized_monthly_savings`` (so a later run fills it in once the bill has arrived).
    """
    as_of = utc(as_of)
    kinds = set(kinds)
    stray = {f.kind for f in found} - kinds
    if stray:
        raise ValueError(f"findings of kinds {sorted(stray)} were not declared in kinds")
    by_print = {f.fingerprint: f for f in found}
    if len(by_print) != len(found):
        raise ValueError("two findings share a fingerprint (kind, resource_id, action)")
    c = findings.c
    existing = {
        row.fingerprint: row
        for row in connection.execute(sa.select(findings).where(c.kind.in_(sorted(kinds))))
    }
    changes: list[FindingChange] = []
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for fp, finding in by_print.items():
        data = _data(finding)
        row = existing.get(fp)
        if row is None:
            inserts.append(
                data
                | {"fingerprint": fp, "kind": finding.kind, "resource_id": finding.resource_id}
                | {"status": "open", "first_seen": as_of, "last_seen": as_of, "updated_at": as_of}
            )
            continue
        status, event = row.status, None
        lifecycle = {
            "status": row.status,
            "snoozed_until": row.snoozed_until,
            "resolved_at": row.resolved_at,
            "realized_monthly_savings": row.realized_monthly_savings,
        }
        if row.status == "snoozed" and row.snoozed_until is not None and row.snoozed_until <= as_of:
            status, event = "open", "reopened"
            lifecycle |= {"status": status, "snoozed_until": None}
        elif row.status == "resolved":
            status, event = "open", "reopened"
            lifecycle |= {"status": status, "resolved_at": None, "realized_monthly_savings": None}
        elif row.status == "open" and row.monthly_savings != finding.monthly_savings:
            event = "updated"
        last_seen = max(row.last_seen, as_of)
        unchanged = (
            event is None
            and last_seen == row.last_seen
            and all(getattr(row, name) == data[name] for name in _DATA_COLUMNS)
        )
        if unchanged:
            continue
        updates.append(
            {name: data[name] for name in _DATA_COLUMNS}
            | lifecycle
            | {"b_id": row.id, "last_seen": last_seen, "updated_at": as_of}
        )
        if event is not None:
            changes.append(_change(row.id, finding, event, status, previous=row.monthly_savings))
    if inserts:
        stmt = findings.insert().returning(c.id, c.fingerprint, sort_by_parameter_order=True)
        for new_id, fp in connection.execute(stmt, inserts):
            changes.append(_change(new_id, by_print[fp], "opened", "open", previous=None))
    if updates:
        columns = [k for k in updates[0] if k != "b_id"]
        update = (
            findings.update()
            .where(c.id == sa.bindparam("b_id"))
            .values({name: sa.bindparam(name) for name in columns})
        )
        connection.execute(update, updates)
    changes += _resolve_missing(connection, existing.values(), by_print, as_of=as_of)
    _fill_realized(connection, kinds, as_of=as_of, window=dt.timedelta(days=realized_window_days))
    return changes


def _data(finding: Finding) -> dict[str, Any]:
    return {
        "recommendation": finding.recommendation,
        "monthly_savings": finding.monthly_savings,
        "currency": finding.currency,
        "confidence": finding.confidence,
        "evidence": finding.evidence,
        "provider": finding.provider,
        "account_id": finding.account_id,
        "region": finding.region,
        "owner": finding.owner,
        "team": finding.team,
    }


def _change(
    finding_id: int, finding: Finding, event: Any, status: str, *, previous: Decimal | None
) -> FindingChange:
    return FindingChange(
        finding_id=finding_id,
        fingerprint=finding.fingerprint,
        kind=finding.kind,
        event=event,
        monthly_savings=finding.monthly_savings,
        previous_savings=previous,
        status=status,
    )


def _resolve_missing(
    connection: Connection, rows: Iterable[Any], present: dict[str, Finding], *, as_of: dt.datetime
) -> list[FindingChange]:
    gone = [row for row in rows if row.fingerprint not in present and row.status in LIVE_STATUSES]
    if not gone:
        return []
    connection.execute(
        findings.update()
        .where(findings.c.id.in_([row.id for row in gone]))
        .values(status="resolved", resolved_at=as_of, snoozed_until=None, updated_at=as_of)
    )
    return [
        FindingChange(
            finding_id=row.id,
            fingerprint=row.fingerprint,
            kind=row.kind,
            event="resolved",
            monthly_savings=row.monthly_savings,
            previous_savings=row.monthly_savings,
            status="resolved",
        )
        for row in gone
    ]


def _fill_realized(
    connection: Connection, kinds: set[str], *, as_of: dt.datetime, window: dt.timedelta
) -> None:
    """Realized saving = (cost in the window before resolution − cost in the window after),
    as a monthly rate; computed only once the window after has passed and been billed."""
    c = findings.c
    pending = connection.execute(
        sa.select(c.id, c.resource_id, c.resolved_at, c.evidence).where(
            c.kind.in_(sorted(kinds)),
            c.status == "resolved",
            c.realized_monthly_savings.is_(None),
            c.resolved_at.is_not(None),
            c.resolved_at <= as_of - window,
        )
    ).all()
    if not pending:
        return
    billed_through = billing_complete_through(connection)
    hours = Decimal(window / dt.timedelta(hours=1))
    for row in pending:
        after_end = row.resolved_at + window
        if billed_through is None or billed_through < after_end:
            continue  # the bill for the window after has not arrived yet: try again next run
        before = usage_cost_between(
            connection, row.resource_id, start=row.resolved_at - window, end=row.resolved_at
        )
        after = usage_cost_between(
            connection, row.resource_id, start=row.resolved_at, end=after_end
        )
        realized = ((before - after) / hours * HOURS_PER_MONTH).quantize(
            Decimal("0.01"), ROUND_HALF_EVEN
        )
        evidence = dict(row.evidence or {})
        evidence["realized"] = {
            "cost_before": format(before, "f"),
            "cost_after": format(after, "f"),
            "window_days": window.days,
        }
        connection.execute(
            findings.update()
            .where(c.id == row.id)
            .values(realized_monthly_savings=realized, evidence=evidence, updated_at=as_of)
        )


@contextlib.contextmanager
def _connection(bind: Engine | Connection, *, write: bool) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    elif write:
        with bind.begin() as connection:
            yield connection
    else:
        with bind.connect() as connection:
            yield connection


def set_finding_status(
    bind: Engine | Connection,
    *,
    finding_id: int,
    action: Action,
    until: dt.datetime | None = None,
    reason: str | None = None,
    at: dt.datetime,
) -> dict[str, Any]:
    """Snooze (until a time), dismiss (with a reason) or reopen one finding; returns the row.

    Raises :class:`InputError` with a one-line message when the action does not apply.
    """
    at = utc(at)
    c = findings.c
    with _connection(bind, write=True) as connection:
        row = connection.execute(
            sa.select(findings).where(c.id == finding_id).with_for_update()
        ).first()
        if row is None:
            raise InputError(
                f"finding {finding_id} does not exist; list them with `spendwatch findings`"
            )
        values: dict[str, Any]
        if action == "snooze":
            if until is None or utc(until) <= at:
                raise InputError(
                    f"finding {finding_id}: snooze needs an --until date in the future"
                )
            _require(row, finding_id, action, allowed=LIVE_STATUSES)
            values = {"status": "snoozed", "snoozed_until": utc(until)}
        elif action == "dismiss":
            if not reason or not reason.strip():
                raise InputError(f"finding {finding_id}: dismiss needs a --reason saying why")
            _require(row, finding_id, action, allowed=(*LIVE_STATUSES, "dismissed"))
            values = {
                "status": "dismissed",
                "dismissed_reason": reason.strip(),
                "snoozed_until": None,
            }
        elif action == "reopen":
            _require(row, finding_id, action, allowed=("snoozed", "dismissed"))
            values = {"status": "open", "snoozed_until": None, "dismissed_reason": None}
        else:
            raise InputError(f"unknown action {action!r}; use snooze, dismiss or reopen")
        connection.execute(
            findings.update().where(c.id == finding_id).values(values | {"updated_at": at})
        )
        updated = connection.execute(sa.select(findings).where(c.id == finding_id)).one()
        return dict(updated._mapping)


def _require(row: Any, finding_id: int, action: str, *, allowed: Sequence[str]) -> None:
    if row.status not in allowed:
        raise InputError(
            f"finding {finding_id} is {row.status}; only {' or '.join(allowed)} findings "
            f"can be {'reopened' if action == 'reopen' else action + 'ed'}"
        )


def list_findings(
    bind: Engine | Connection,
    *,
    kind: str | None = None,
    status: str | None = None,
    owner: str | None = None,
) -> list[dict[str, Any]]:
    """Findings as dicts (all columns), largest saving first; ``None`` filters mean all."""
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown finding kind {kind!r}; use one of: {', '.join(KINDS)}")
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown status {status!r}; use one of: {', '.join(STATUSES)}")
    c = findings.c
    query = sa.select(findings)
    for column, value in ((c.kind, kind), (c.status, status), (c.owner, owner)):
        if value is not None:
            query = query.where(column == value)
    with _connection(bind, write=False) as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    # Sorted in Python: SQLite stores money as text, and text does not sort as numbers.
    rows.sort(key=lambda row: (-row["monthly_savings"], row["id"]))
    return rows


def savings_totals(
    bind: Engine | Connection, *, statuses: Sequence[str] = LIVE_STATUSES
) -> list[dict[str, Any]]:
    """Monthly savings after dedupe, as rows of ``group`` (total | kind | owner), ``key``,
    ``currency``, ``findings``, ``monthly_savings`` (findings in ``statuses``) and
    ``realized_monthly_savings`` (resolved findings whose realized saving is known)."""
    c = findings.c
    columns = [c.kind, c.resource_id, c.owner, c.currency, c.status]
    with _connection(bind, write=False) as connection:
        potential = [
            dict(row._mapping)
            for row in connection.execute(
                sa.select(*columns, c.monthly_savings).where(c.status.in_(list(statuses)))
            )
        ]
        realized = [
            dict(row._mapping)
            for row in connection.execute(
                sa.select(*columns, c.realized_monthly_savings.label("monthly_savings")).where(
                    c.status == "resolved", c.realized_monthly_savings.is_not(None)
                )
            )
        ]
    for row in (*potential, *realized):
        row["total"] = "all"
    result: list[dict[str, Any]] = []
    for group in ("total", "kind", "owner"):
        merged: dict[tuple[Any, str], dict[str, Any]] = {}
        for source, field in (
            (potential, "monthly_savings"),
            (realized, "realized_monthly_savings"),
        ):
            for total in totals_by(source, key=group, amounts=counted_savings(source)):
                entry = merged.setdefault(
                    (total[group], total["currency"]),
                    {
                        "group": group,
                        "key": total[group],
                        "currency": total["currency"],
                        "findings": 0,
                        "monthly_savings": Decimal(0),
                        "realized_monthly_savings": Decimal(0),
                    },
                )
                entry[field] = total["amount"]
                if field == "monthly_savings":
                    entry["findings"] = total["findings"]
        result += sorted(merged.values(), key=lambda e: (-e["monthly_savings"], str(e["key"])))
    return result
