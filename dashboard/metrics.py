"""Figures the pages show, cut from already-loaded rows. Pure: no Streamlit, no database, no clock.

Money stays ``Decimal``; sums are Python sums, so they are exact on both dialects. The spend
rows are :func:`warehouse.queries.spend_rollup.daily_cost_rollup` rows.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

from analytics.anomalies import month_end_forecast
from analytics.policies import ColdStoragePolicy
from analytics.storage_tiering import GB
from warehouse.billing_periods import delivered_final

Row = Mapping[str, Any]


def in_scope(
    rows: Iterable[Row], *, start: dt.date, end: dt.date, provider: str | None, currency: str | None
) -> list[Row]:
    return [
        row
        for row in rows
        if start <= row["day"] <= end
        and (provider is None or row["provider"] == provider)
        and (currency is None or row["currency"] == currency)
    ]


def total(rows: Iterable[Row], *, field: str = "billed") -> Decimal:
    return sum((row[field] for row in rows), Decimal(0))


def sum_by(
    rows: Iterable[Row], key: Callable[[Row], Any], *, field: str = "billed"
) -> dict[Any, Decimal]:
    sums: dict[Any, Decimal] = defaultdict(Decimal)
    for row in rows:
        sums[key(row)] += row[field]
    return dict(sums)


def daily_by(rows: Iterable[Row], key: str, *, top: int | None = None) -> pd.DataFrame:
    """Billed cost per day and ``key``; beyond the ``top`` largest keys everything is "Other"."""
    sums = sum_by(rows, lambda row: (row["day"], row[key] or "(untagged)"))
    if top is not None:
        per_key = sum_by(({"k": k, "billed": v} for (_, k), v in sums.items()), lambda r: r["k"])
        keep = set(sorted(per_key, key=lambda k: -per_key[k])[:top])
        merged: dict[tuple[dt.date, str], Decimal] = defaultdict(Decimal)
        for (day, name), cost in sums.items():
            merged[(day, name if name in keep else "Other")] += cost
        sums = dict(merged)
    frame = pd.DataFrame(
        [{"day": day, "key": name, "cost": cost} for (day, name), cost in sorted(sums.items())],
        columns=["day", "key", "cost"],
    )
    return frame


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The same number of days just before ``start``."""
    days = (end - start).days + 1
    return start - dt.timedelta(days=days), start - dt.timedelta(days=1)


def top_movers(
    current: Iterable[Row], previous: Iterable[Row], *, limit: int = 10
) -> list[dict[str, Any]]:
    """Services whose billed cost moved most between two equally long periods (absolute)."""

    def key(row: Row) -> tuple[str, str]:
        return row["provider"], row["service"]

    now, before = sum_by(current, key), sum_by(previous, key)
    movers = []
    for provider, service in set(now) | set(before):
        this, last = (
            now.get((provider, service), Decimal(0)),
            before.get((provider, service), Decimal(0)),
        )
        change = this - last
        if change == 0:
            continue
        movers.append(
            {
                "provider": provider,
                "service": service,
                "previous": last,
                "current": this,
                "change": change,
                "change_pct": float(change / abs(last)) if last else None,
            }
        )
    movers.sort(key=lambda m: (-abs(m["change"]), m["provider"], m["service"]))
    return movers[:limit]


@dataclasses.dataclass(frozen=True, slots=True)
class Forecast:
    month: str  # YYYY-MM
    month_to_date: Decimal
    forecast: Decimal
    through: dt.date | None  # last complete day the forecast is based on
    complete: bool  # the month is over: the forecast is what was spent


def month_forecast(
    rows: Sequence[Row],
    *,
    end: dt.date,
    now: dt.datetime,
    provider: str | None,
    currency: str | None,
    trailing_days: int = 7,
) -> Forecast:
    """Month-end billed cost for the month of ``end``, on the month-to-date figure's basis.

    Usage charges follow :func:`analytics.anomalies.month_end_forecast` (month to date through
    the last billed day plus the trailing mean for each day left) at the earlier of now and the
    midnight after ``end``; the month's other charges so far (credits, refunds, tax, purchases)
    are added as they are, not projected: they do not recur daily. Once the month is over the
    forecast is simply what was billed, so it equals the month to date.
    """
    month_start = end.replace(day=1)
    last_day = end.replace(day=calendar.monthrange(end.year, end.month)[1])
    scoped = [
        row
        for row in rows
        if (provider is None or row["provider"] == provider)
        and (currency is None or row["currency"] == currency)
        and row["day"] <= end
    ]
    in_month = [row for row in scoped if row["day"] >= month_start]
    to_date = total(in_month)
    midnight_after = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    if end == last_day and now >= midnight_after:
        return Forecast(month_start.strftime("%Y-%m"), to_date, to_date, end, complete=True)
    daily = pd.DataFrame(
        [
            {
                "provider": row["provider"],
                "account_id": row["account"],
                "service": row["service"],
                "currency": row["currency"],
                "day": row["day"].isoformat(),
                "cost": row["billed"],
            }
            for row in scoped
            if row["usage"]
        ],
        columns=["provider", "account_id", "service", "currency", "day", "cost"],
    )
    found = month_end_forecast(daily, as_of=min(now, midnight_after), trailing_days=trailing_days)
    ours = [f for f in found if f.month == month_start.strftime("%Y-%m")]
    other_charges = total(row for row in in_month if not row["usage"])
    return Forecast(
        month=month_start.strftime("%Y-%m"),
        month_to_date=to_date,
        forecast=sum((f.forecast for f in ours), other_charges),
        through=max((f.through for f in ours), default=None),
        complete=False,
    )


def billing_freshness(
    loads: Sequence[Row],
    finished: Mapping[str, dt.datetime],
    *,
    today: dt.date,
    late_after_days: int = 3,
) -> list[dict[str, Any]]:
    """Per provider and billing account: the latest charge day, how old it is (``feed`` is
    "late" past ``late_after_days``, else "current"), and whether each billing period is final
    or still an estimate (``delivered_final``)."""
    accounts: dict[tuple[str, str], dict[str, Any]] = {}
    for load in loads:
        key = (load["provider_name"] or "(unknown)", load["billing_account_id"] or "")
        entry = accounts.setdefault(key, {"last_charge": None, "periods": {}})
        last_charge = load["last_charge"]
        if last_charge is not None and (
            entry["last_charge"] is None or last_charge > entry["last_charge"]
        ):
            entry["last_charge"] = last_charge
        period_end = load["billing_period_end"]
        at = finished.get(str(load["x_load_id"]))
        final = delivered_final(period_end=period_end, finished_at=at)
        period = load["billing_period_start"]
        entry["periods"][period] = entry["periods"].get(period, True) and final
    result = []
    for (provider, account), entry in sorted(accounts.items()):
        periods = entry["periods"]
        latest_period = max((p for p in periods if p is not None), default=None)
        last_day = entry["last_charge"].date() if entry["last_charge"] else None
        behind = (today - last_day).days if last_day else None
        result.append(
            {
                "provider": provider,
                "account": account,
                "feed": "late" if behind is None or behind > late_after_days else "current",
                "last_charge_day": last_day,
                "days_behind": behind,
                "latest_period": latest_period.strftime("%Y-%m") if latest_period else "",
                "latest_period_status": "final" if periods.get(latest_period) else "estimated",
                "final_periods": sum(1 for is_final in periods.values() if is_final),
                "estimated_periods": sum(1 for is_final in periods.values() if not is_final),
            }
        )
    return result


def tier_costs(
    inventory: pd.DataFrame, prices: pd.DataFrame, *, policy: ColdStoragePolicy
) -> pd.DataFrame:
    """Bytes, objects and monthly cost per provider and storage class, priced the way the
    ``cold_storage`` rule prices them: the prices table first, then the policy's table."""
    quoted: dict[tuple[str, Any, str], Decimal] = {
        (str(r["provider"]).lower(), r["region"], str(r["storage_class"]).upper()): r["price"]
        for r in prices.to_dict("records")
    }
    fallback: dict[tuple[str, str], Decimal] = dict(policy.other_prices)
    for provider, (name, hot_price, _source) in policy.hot_tiers.items():
        fallback[(provider, name)] = hot_price
    for provider, tiers in policy.cold_tiers.items():
        for tier in tiers:
            fallback[(provider, tier.name)] = tier.price_per_gb_month
    sums: dict[tuple[str, str], dict[str, Any]] = {}
    for row in inventory.to_dict("records"):
        provider, storage_class = str(row["provider"]).lower(), str(row["storage_class"]).upper()
        entry = sums.setdefault(
            (provider, storage_class),
            {"bytes": 0, "objects": 0, "prefixes": 0, "cost": Decimal(0), "unpriced_bytes": 0},
        )
        entry["bytes"] += int(row["bytes"])
        entry["objects"] += int(row["objects"])
        entry["prefixes"] += 1
        price: Decimal | None = quoted.get(
            (provider, row["region"], storage_class), fallback.get((provider, storage_class))
        )
        if price is None:
            entry["unpriced_bytes"] += int(row["bytes"])
        else:
            entry["cost"] += Decimal(int(row["bytes"])) / GB * price
    return pd.DataFrame(
        [
            {
                "provider": provider,
                "storage_class": storage_class,
                **entry,
                "cost": entry["cost"].quantize(Decimal("0.01")),
                "priced": entry["unpriced_bytes"] == 0,
            }
            for (provider, storage_class), entry in sorted(sums.items())
        ],
        columns=[
            "provider",
            "storage_class",
            "bytes",
            "objects",
            "prefixes",
            "cost",
            "unpriced_bytes",
            "priced",
        ],
    )


def realized_by_month(rows: Iterable[Row], *, at_least_months: int = 1) -> pd.DataFrame:
    """Realized monthly savings per month of resolution and currency.

    Months without any are filled with zero, and the series reaches back at least
    ``at_least_months`` months from the latest, so a chart shows the quiet months too.
    """
    sums = sum_by(
        rows,
        lambda row: (row["resolved_at"].strftime("%Y-%m"), row["currency"]),
        field="realized_monthly_savings",
    )
    if not sums:
        return pd.DataFrame(columns=["month", "currency", "realized"])
    months = [month for month, _ in sums]
    first, last = (
        dt.date.fromisoformat(min(months) + "-01"),
        dt.date.fromisoformat(max(months) + "-01"),
    )
    back = last.year * 12 + last.month - at_least_months  # months counted from year 0
    first = min(first, dt.date(back // 12, back % 12 + 1, 1))
    span = []
    while first <= last:
        span.append(first.strftime("%Y-%m"))
        first = (first + dt.timedelta(days=32)).replace(day=1)
    currencies = sorted({currency for _, currency in sums})
    return pd.DataFrame(
        [
            {
                "month": month,
                "currency": currency,
                "realized": sums.get((month, currency), Decimal(0)),
            }
            for month in span
            for currency in currencies
        ],
        columns=["month", "currency", "realized"],
    )
