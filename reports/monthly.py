"""The monthly rightsizing report as data: :func:`monthly_report` reads the warehouse once and
returns a :class:`MonthlyReport`; :mod:`reports.render` turns it into HTML and CSV.

What it holds for one calendar month (UTC):

* spend (billed cost, all charge categories, as on the dashboard and `spendwatch costs`) by
  provider, service and team, each beside the previous month;
* open findings with their monthly savings by kind, owner and team, never counted twice
  (:mod:`analytics.dedupe`), and every recommendation ranked, with evidence lines worded by
  :mod:`alerts.evidence_fields` exactly as the Slack alert words them;
* realized savings of findings resolved in the month;
* GPU-hours bought vs used (:mod:`reports.gpu_fleet`);
* caveats a reader must see before forwarding the figures (:mod:`reports.caveats`).

Amounts stay ``Decimal`` and per currency: two currencies are never added together.
``as_of`` is passed in (no clock): it decides whether the month is over and its bill final.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from alerts.evidence_fields import kind_caveats, kind_fields, money
from alerts.messages import COST_SO_FAR_KEYS, IDLE_SINCE_KEYS, KIND_TITLES
from analytics.dedupe import EXCLUSIVE_KINDS, counted_savings, totals_by
from reports.caveats import Caveats, billing_caveats
from reports.gpu_fleet import GpuFleet, gpu_fleet
from warehouse.findings_store import list_findings
from warehouse.queries.costs import cost_totals

# Findings that are not a thing to do: an anomaly is a day's spend to look at, not a saving.
NOT_RECOMMENDATIONS: frozenset[str] = frozenset({"spend_anomaly"})
UNTAGGED = "(untagged)"


@dataclasses.dataclass(frozen=True, slots=True)
class SpendLine:
    """One group's spend in the month beside the previous month, in one currency."""

    key: str
    currency: str
    amount: Decimal
    previous: Decimal

    @property
    def change(self) -> Decimal:
        return self.amount - self.previous

    @property
    def change_percent(self) -> Decimal | None:
        if self.previous == 0:
            return None
        return (self.change / abs(self.previous) * 100).quantize(Decimal("0.1"))


@dataclasses.dataclass(frozen=True, slots=True)
class SavingsLine:
    key: str
    currency: str
    findings: int
    monthly_savings: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class Recommendation:
    rank: int
    finding_id: int
    kind: str
    title: str
    resource_id: str
    provider: str | None
    account_id: str | None
    region: str | None
    owner: str | None
    team: str | None
    confidence: str
    currency: str
    monthly_savings: Decimal
    counted_savings: Decimal  # 0 when another finding on the resource saves more (dedupe)
    recommendation: str
    details: tuple[tuple[str, str], ...]  # (label, plain text) evidence lines
    caveats: tuple[str, ...]
    first_seen: dt.datetime
    alternative_to: int | None  # the finding id whose saving is counted instead


@dataclasses.dataclass(frozen=True, slots=True)
class RealizedLine:
    finding_id: int
    kind: str
    title: str
    resource_id: str
    owner: str | None
    team: str | None
    resolved_at: dt.datetime
    currency: str
    estimated: Decimal  # the monthly saving the finding claimed while open
    realized: Decimal | None  # None: the bill after resolution has not arrived yet


@dataclasses.dataclass(frozen=True, slots=True)
class MonthlyReport:
    month: str  # YYYY-MM
    start: dt.datetime
    end: dt.datetime  # exclusive
    as_of: dt.datetime
    has_billing: bool
    spend_total: tuple[SpendLine, ...]
    spend_by_provider: tuple[SpendLine, ...]
    spend_by_service: tuple[SpendLine, ...]
    spend_by_team: tuple[SpendLine, ...]
    daily_spend: tuple[tuple[dt.date, str, Decimal], ...]  # (day, currency, billed)
    savings_total: tuple[SavingsLine, ...]
    savings_by_kind: tuple[SavingsLine, ...]
    savings_by_owner: tuple[SavingsLine, ...]
    savings_by_team: tuple[SavingsLine, ...]
    recommendations: tuple[Recommendation, ...]  # every open one, largest saving first
    top_n: int
    realized: tuple[RealizedLine, ...]
    realized_total: tuple[SavingsLine, ...]
    gpu: GpuFleet
    caveats: tuple[str, ...]
    analyzed_at: dt.datetime | None

    @property
    def top_recommendations(self) -> tuple[Recommendation, ...]:
        return self.recommendations[: self.top_n]

    @property
    def currencies(self) -> tuple[str, ...]:
        seen = [line.currency for line in self.spend_total]
        seen += [line.currency for line in self.savings_total]
        return tuple(dict.fromkeys(seen))


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """``[first instant, first instant of the next month)`` in UTC for ``YYYY-MM``."""
    start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC)
    return start, _next_month(start)


def _next_month(start: dt.datetime) -> dt.datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def previous_month(month: str) -> str:
    start, _ = month_bounds(month)
    return (start - dt.timedelta(days=1)).strftime("%Y-%m")


def monthly_report(
    connection: Connection,
    *,
    month: str,
    as_of: dt.datetime,
    team_tag: str = "team",
    top_n: int = 20,
) -> MonthlyReport:
    """Everything the report shows for ``month`` (``YYYY-MM``), read from one connection."""
    start, end = month_bounds(month)
    previous_start, _ = month_bounds(previous_month(month))
    groups = ["provider", "service", "team"]
    current = cost_totals(
        connection, group_by=[*groups, "day"], start=start, end=end, team_tag=team_tag
    )
    before = cost_totals(
        connection, group_by=groups, start=previous_start, end=start, team_tag=team_tag
    )
    spend = {
        name: _spend_lines(current, before, key=name)
        for name in ("total", "provider", "service", "team")
    }
    daily: dict[tuple[dt.date, str], Decimal] = defaultdict(Decimal)
    for row in current:
        daily[(dt.date.fromisoformat(str(row["day"])[:10]), row["currency"] or "")] += _billed(row)

    every = list_findings(connection)
    live = [row for row in every if row["status"] == "open"]
    counted = counted_savings(live)
    recommendations = _recommendations(live, counted)
    realized_rows = [
        row
        for row in every
        if row["status"] == "resolved"
        and row["resolved_at"] is not None
        and start <= row["resolved_at"] < end
    ]
    realized_known = [
        row | {"monthly_savings": row["realized_monthly_savings"]}
        for row in realized_rows
        if row["realized_monthly_savings"] is not None
    ]
    savings_rows = [row | {"all": "all"} for row in live]
    fleet = gpu_fleet(connection, start=start, end=end)
    notes: Caveats = billing_caveats(
        connection,
        month=month,
        start=start,
        end=end,
        as_of=as_of,
        has_billing=bool(current),
        fleet=fleet,
        snoozed=[row for row in every if row["status"] == "snoozed"],
        unmonitored=sum(1 for row in live if row["kind"] == "unmonitored_gpu"),
        currencies=sorted({row["currency"] or "" for row in current}),
    )
    return MonthlyReport(
        month=month,
        start=start,
        end=end,
        as_of=as_of,
        has_billing=bool(current),
        spend_total=spend["total"],
        spend_by_provider=spend["provider"],
        spend_by_service=spend["service"],
        spend_by_team=spend["team"],
        daily_spend=tuple((day, cur, amount) for (day, cur), amount in sorted(daily.items())),
        savings_total=_savings(savings_rows, counted, key="all"),
        savings_by_kind=_savings(live, counted, key="kind"),
        savings_by_owner=_savings(live, counted, key="owner"),
        savings_by_team=_savings(live, counted, key="team"),
        recommendations=recommendations,
        top_n=top_n,
        realized=tuple(_realized(row) for row in sorted(realized_rows, key=_by_resolution)),
        realized_total=_savings(
            [row | {"all": "all"} for row in realized_known],
            counted_savings(realized_known),
            key="all",
        ),
        gpu=fleet,
        caveats=notes.lines,
        analyzed_at=notes.analyzed_at,
    )


def _billed(row: Mapping[str, Any]) -> Decimal:
    value = row["billed_cost"]
    return value if value is not None else Decimal(0)


def _spend_lines(
    current: Iterable[Mapping[str, Any]], before: Iterable[Mapping[str, Any]], *, key: str
) -> tuple[SpendLine, ...]:
    sums: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for index, rows in enumerate((current, before)):
        for row in rows:
            name = "total" if key == "total" else (row[key] or UNTAGGED)
            sums[(str(name), row["currency"] or "")][index] += _billed(row)
    lines = [
        SpendLine(key=name, currency=currency, amount=now, previous=then)
        for (name, currency), (now, then) in sums.items()
    ]
    lines.sort(key=lambda line: (line.currency, -line.amount, -line.previous, line.key))
    return tuple(lines)


def _savings(
    rows: Sequence[Mapping[str, Any]], amounts: Sequence[Decimal], *, key: str
) -> tuple[SavingsLine, ...]:
    return tuple(
        SavingsLine(
            key=str(total[key]) if total[key] is not None else UNTAGGED,
            currency=total["currency"],
            findings=total["findings"],
            monthly_savings=total["amount"],
        )
        for total in totals_by(rows, key=key, amounts=amounts)
    )


def _recommendations(
    live: Sequence[Mapping[str, Any]], counted: Sequence[Decimal]
) -> tuple[Recommendation, ...]:
    pairs = [
        (row, amount)
        for row, amount in zip(live, counted, strict=True)
        if row["kind"] not in NOT_RECOMMENDATIONS
    ]
    # Largest counted saving first, so alternatives sit below the finding they lose to.
    pairs.sort(key=lambda pair: (-pair[1], -pair[0]["monthly_savings"], pair[0]["id"]))
    winners = {
        (str(row["resource_id"]), row["currency"]): int(row["id"])
        for row, amount in pairs
        if row["kind"] in EXCLUSIVE_KINDS and amount > 0
    }
    result = []
    for rank, (row, amount) in enumerate(pairs, start=1):
        lost = row["kind"] in EXCLUSIVE_KINDS and amount == 0 and row["monthly_savings"] > 0
        winner = winners.get((str(row["resource_id"]), row["currency"])) if lost else None
        result.append(_recommendation(rank, row, amount, alternative_to=winner))
    return tuple(result)


def _recommendation(
    rank: int, row: Mapping[str, Any], counted: Decimal, *, alternative_to: int | None
) -> Recommendation:
    kind, currency = str(row["kind"]), str(row["currency"])
    evidence = row["evidence"] or {}
    details: list[tuple[str, str]] = []
    since = next((evidence[k] for k in IDLE_SINCE_KEYS if evidence.get(k) is not None), None)
    if since is not None:
        details.append(("Idle since", str(since).replace("T", " ").replace("Z", " UTC")))
    so_far = next((evidence[k] for k in COST_SO_FAR_KEYS if evidence.get(k) is not None), None)
    if so_far is not None:
        details.append(("Cost so far", money(str(so_far), currency)))
    details += [(label, _plain(value)) for label, value in kind_fields(kind, evidence, currency)]
    return Recommendation(
        rank=rank,
        finding_id=int(row["id"]),
        kind=kind,
        title=KIND_TITLES.get(kind, kind),
        resource_id=str(row["resource_id"]),
        provider=row["provider"],
        account_id=row["account_id"],
        region=row["region"],
        owner=row["owner"],
        team=row["team"],
        confidence=str(row["confidence"]),
        currency=currency,
        monthly_savings=row["monthly_savings"],
        counted_savings=counted,
        recommendation=str(row["recommendation"]),
        details=tuple(details),
        caveats=tuple(_plain(text) for text in kind_caveats(kind, evidence)),
        first_seen=row["first_seen"],
        alternative_to=alternative_to,
    )


def _plain(mrkdwn: str) -> str:
    """Undo evidence_fields' Slack escaping: the renderer escapes for HTML itself."""
    text = mrkdwn.replace("`", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _by_resolution(row: Mapping[str, Any]) -> tuple[Any, ...]:
    realized = row["realized_monthly_savings"]
    return (realized is None, -(realized or 0), row["resolved_at"], row["id"])


def _realized(row: Mapping[str, Any]) -> RealizedLine:
    kind = str(row["kind"])
    return RealizedLine(
        finding_id=int(row["id"]),
        kind=kind,
        title=KIND_TITLES.get(kind, kind),
        resource_id=str(row["resource_id"]),
        owner=row["owner"],
        team=row["team"],
        resolved_at=row["resolved_at"],
        currency=str(row["currency"]),
        estimated=row["monthly_savings"],
        realized=row["realized_monthly_savings"],
    )
