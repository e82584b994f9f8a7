"""What a reader must know before forwarding the month's figures: the bill is still an estimate,
charges stop short of the month's end, GPU telemetry is missing, findings are stale, snoozed
savings are left out, or amounts come in more than one currency.

A billing period counts as final by :func:`warehouse.billing_periods.delivered_final`, the same
rule the Data health page uses. A load with no recorded finish time is an estimate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from alerts.evidence_fields import money
from analytics.dedupe import counted_savings, totals_by
from reports.gpu_fleet import GpuFleet
from warehouse.billing_periods import delivered_final
from warehouse.queries.billing_loads import billing_loads, load_finish_times
from warehouse.queries.report import billing_coverage, last_analyzed

# Feeds arrive about a day late; charges ending more than this before the month's end (or
# ``as_of``) mean days are missing, not merely late.
MISSING_AFTER = dt.timedelta(days=2)
STALE_FINDINGS_AFTER = dt.timedelta(days=2)
ACCOUNTS_NAMED = 3


@dataclasses.dataclass(frozen=True, slots=True)
class Caveats:
    lines: tuple[str, ...]
    analyzed_at: dt.datetime | None


def billing_caveats(
    connection: Connection,
    *,
    month: str,
    start: dt.datetime,
    end: dt.datetime,
    as_of: dt.datetime,
    has_billing: bool,
    fleet: GpuFleet,
    snoozed: Sequence[Mapping[str, Any]],
    unmonitored: int,
    currencies: Sequence[str],
) -> Caveats:
    lines: list[str] = []
    until = min(end, as_of)
    if not has_billing:
        lines.append(
            f"No billing data for {month}: nothing is loaded for charges in that month; run "
            "`spendwatch collect` or `spendwatch ingest focus`."
        )
    if as_of < end:
        lines.append(
            f"{month} is not over: figures run to {_when(as_of)}, and the previous month they "
            "are compared with is whole."
        )
    if has_billing:
        lines += _finality(connection, month=month, start=start, end=end, as_of=as_of)
        lines += _coverage(connection, month=month, start=start, end=end, until=until)
    if len(currencies) > 1:
        lines.append(
            f"Amounts are in {len(currencies)} currencies ({', '.join(currencies)}); each is "
            "totalled on its own, never added to another."
        )
    lines += _gpu(fleet, month=month, until=until, unmonitored=unmonitored)
    analyzed_at = last_analyzed(connection)
    if analyzed_at is None:
        lines.append("No analysis has run yet, so there are no findings: run `spendwatch analyze`.")
    elif analyzed_at < as_of - STALE_FINDINGS_AFTER:
        lines.append(
            f"Findings were last refreshed at {_when(analyzed_at)}; run `spendwatch analyze` "
            "for current ones."
        )
    if snoozed:
        totals = totals_by(snoozed, key="currency", amounts=counted_savings(snoozed))
        amounts = ", ".join(money(t["amount"], t["currency"]) for t in totals)
        lines.append(
            f"{len(snoozed)} snoozed finding(s) worth {amounts} a month are left out of the "
            "savings below."
        )
    return Caveats(lines=tuple(lines), analyzed_at=analyzed_at)


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _named(accounts: Sequence[tuple[str, str]]) -> str:
    shown = ", ".join(
        f"{provider} {account}".strip() for provider, account in accounts[:ACCOUNTS_NAMED]
    )
    more = len(accounts) - ACCOUNTS_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


def _finality(
    connection: Connection, *, month: str, start: dt.datetime, end: dt.datetime, as_of: dt.datetime
) -> list[str]:
    finished = load_finish_times(connection)
    final: dict[tuple[str, str], bool] = {}
    for load in billing_loads(connection):
        period_start, period_end = load["billing_period_start"], load["billing_period_end"]
        overlaps = period_start is not None and period_end is not None
        if not overlaps or not (period_start < end and period_end > start):
            continue
        key = (load["provider_name"] or "(unknown)", load["billing_account_id"] or "")
        at = finished.get(str(load["x_load_id"]))
        is_final = (
            at is not None
            and at <= as_of
            and delivered_final(period_end=period_end, finished_at=at)
        )
        final[key] = final.get(key, True) and is_final
    estimated = sorted(key for key, is_final in final.items() if not is_final)
    if not estimated:
        return []
    return [
        f"Billing for {month} is not final for {len(estimated)} of {len(final)} account(s) "
        f"({_named(estimated)}): providers restate a month for days after it ends, so these "
        "figures can still change."
    ]


def _coverage(
    connection: Connection, *, month: str, start: dt.datetime, end: dt.datetime, until: dt.datetime
) -> list[str]:
    short = [
        row
        for row in billing_coverage(connection, start=start, end=end)
        if row["last_charge_end"] is not None and row["last_charge_end"] < until - MISSING_AFTER
    ]
    if not short:
        return []
    short.sort(key=lambda row: (row["last_charge_end"], row["provider"], row["account"]))
    named = _named([(row["provider"], row["account"]) for row in short])
    return [
        f"Charges stop early for {len(short)} account(s) ({named}; the earliest at "
        f"{_when(short[0]['last_charge_end'])}): later days of {month} are missing from the "
        "totals."
    ]


def _gpu(fleet: GpuFleet, *, month: str, until: dt.datetime, unmonitored: int) -> list[str]:
    lines: list[str] = []
    if fleet.total.gpu_hours == 0:
        lines.append(f"No GPU telemetry for {month}: GPU-hours bought vs used are unknown.")
    elif fleet.last_hour is not None and fleet.last_hour < (until - MISSING_AFTER).date():
        lines.append(
            f"GPU telemetry stops at {fleet.last_hour.isoformat()}: later days are not in the "
            "GPU figures."
        )
    if unmonitored:
        lines.append(
            f"{unmonitored} billed GPU instance(s) send no GPU telemetry (unmonitored_gpu "
            "findings): their hours are not in the GPU figures."
        )
    if fleet.hours_without_utilization:
        lines.append(
            f"{fleet.hours_without_utilization} GPU-hours had no utilization reading (MIG): "
            "they count as bought, not as used."
        )
    return lines
