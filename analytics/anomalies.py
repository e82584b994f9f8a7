"""Daily spend anomalies and the month-end forecast.

**Anomaly.** For each provider, account, service and currency, a complete UTC day is compared
with the ``baseline_days`` (28) days before it. The baseline is robust: its median, and its
median absolute deviation (MAD) scaled by 1.4826 so that it estimates a standard deviation. The
day is flagged when its robust z, ``(amount - median) / (1.4826 × MAD)``, is above
``robust_z`` (3) **and** its excess over the median is at least ``min_amount`` (50 in the
billing currency), so a 4-to-40 jump on a tiny service never pages anyone. A baseline with
MAD 0 (perfectly flat spend) makes any rise infinitely unusual; the amount floor then decides.
Days with no spend inside the key's history count as 0; days before its first spend are not
history. Spend is usage only: credits and refunds are not spend (see ``warehouse.queries``).

Anomalies are alerts, not savings: ``monthly_savings`` is 0; the evidence has the excess.

**Forecast.** Per provider and currency: month-to-date spend through the last day with billing,
plus the mean of the ``forecast_trailing_days`` (7) days ending there × the days left in the
month after it. Basing both on the last billed day keeps a feed that arrives a day late from
looking like a drop. Nothing stores the forecast; the dashboard calls :func:`month_end_forecast`.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import statistics
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd

from analytics.findings import Finding, utc
from analytics.policies import SpendAnomalyPolicy

CENT = Decimal("0.01")
Key = tuple[str, str, str, str]  # provider, account_id, service, currency


@dataclasses.dataclass(frozen=True, slots=True)
class SpendForecast:
    provider: str
    currency: str
    month: str  # YYYY-MM
    through: dt.date  # last day with billing
    month_to_date: Decimal
    trailing_daily_mean: Decimal
    days_left: int
    forecast: Decimal


def anomaly_window_start(as_of: dt.datetime, policy: SpendAnomalyPolicy) -> dt.datetime:
    """Where :func:`warehouse.queries.spend.daily_spend` must start for this rule."""
    first = _today(as_of) - dt.timedelta(days=policy.evaluate_days + policy.baseline_days)
    return dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)


def forecast_window_start(as_of: dt.datetime, *, trailing_days: int = 7) -> dt.datetime:
    """Where the daily spend must start for :func:`month_end_forecast`."""
    first = _today(as_of).replace(day=1) - dt.timedelta(days=trailing_days)
    return dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)


def spend_anomaly_findings(
    daily: pd.DataFrame, *, as_of: dt.datetime, policy: SpendAnomalyPolicy
) -> list[Finding]:
    """Findings of kind ``spend_anomaly`` for the last ``evaluate_days`` complete days.

    ``daily`` is :func:`warehouse.queries.spend.daily_spend` from
    :func:`anomaly_window_start` to ``as_of``.
    """
    today = _today(as_of)
    scale = Decimal(str(policy.mad_scale))
    found: list[Finding] = []
    for key, series in sorted(_series(daily).items()):
        first_day = min(series)
        for back in range(policy.evaluate_days, 0, -1):
            day = today - dt.timedelta(days=back)
            history = [
                day - dt.timedelta(days=n)
                for n in range(policy.baseline_days, 0, -1)
                if day - dt.timedelta(days=n) >= first_day
            ]
            if len(history) < policy.min_baseline_days:
                continue
            baseline = [series.get(d, Decimal(0)) for d in history]
            median = statistics.median(baseline)
            mad = statistics.median(abs(value - median) for value in baseline)
            amount = series.get(day, Decimal(0))
            excess = amount - median
            if excess < policy.min_amount:
                continue
            z = float(excess / (scale * mad)) if mad else float("inf")
            if z <= policy.robust_z:
                continue
            found.append(_finding(key, day, amount, median, mad, z, history, policy))
    return found


def _finding(
    key: Key,
    day: dt.date,
    amount: Decimal,
    median: Decimal,
    mad: Decimal,
    z: float,
    history: list[dt.date],
    policy: SpendAnomalyPolicy,
) -> Finding:
    provider, account, service, currency = key
    excess = amount - median
    z_text = "infinite (flat baseline)" if z == float("inf") else f"{z:.1f}"
    evidence: dict[str, Any] = {
        "day": day.isoformat(),
        "amount": _money(amount),
        "currency": currency,
        "baseline_median": _money(median),
        "baseline_mad": _money(mad),
        "robust_z": None if z == float("inf") else round(z, 2),
        "excess_over_median": _money(excess),
        "baseline_start": history[0].isoformat(),
        "baseline_end": history[-1].isoformat(),
        "baseline_days": len(history),
        "threshold_robust_z": policy.robust_z,
        "threshold_min_amount": _money(policy.min_amount),
        "mad_scale": policy.mad_scale,
        "spend_definition": "effective cost of usage charges; credits and refunds excluded",
    }
    return Finding(
        kind="spend_anomaly",
        resource_id=f"{provider}/{account}/{service}",
        recommendation=(
            f"{service} in {provider} account {account or '(none)'} cost {_money(amount)} "
            f"{currency} on {day.isoformat()}, {_money(excess)} above its usual "
            f"{_money(median)}/day (robust z {z_text}); check what changed that day."
        ),
        monthly_savings=Decimal(0),
        currency=currency,
        confidence="high" if len(history) >= policy.baseline_days else "medium",
        evidence=evidence,
        provider=provider,
        account_id=account or None,
        action=f"spike:{day.isoformat()}",
    )


def month_end_forecast(
    daily: pd.DataFrame, *, as_of: dt.datetime, trailing_days: int = 7
) -> list[SpendForecast]:
    """Month-end spend per provider and currency (see the module docstring).

    ``daily`` is :func:`warehouse.queries.spend.daily_spend` from
    :func:`forecast_window_start` to ``as_of``; only complete days before ``as_of`` count.
    """
    today = _today(as_of)
    month_start = today.replace(day=1)
    month_end = month_start.replace(day=calendar.monthrange(today.year, today.month)[1])
    totals: dict[tuple[str, str], dict[dt.date, Decimal]] = defaultdict(
        lambda: defaultdict(Decimal)
    )
    for (provider, _account, _service, currency), series in _series(daily).items():
        for day, cost in series.items():
            if day < today:
                totals[(provider, currency)][day] += cost
    result = []
    for (provider, currency), series in sorted(totals.items()):
        through = max(series)
        trailing = [
            series.get(through - dt.timedelta(days=n), Decimal(0)) for n in range(trailing_days)
        ]
        mean = sum(trailing, Decimal(0)) / trailing_days
        to_date = sum((v for d, v in series.items() if month_start <= d <= through), Decimal(0))
        days_left = max((month_end - max(through, month_start - dt.timedelta(days=1))).days, 0)
        result.append(
            SpendForecast(
                provider=provider,
                currency=currency,
                month=month_start.strftime("%Y-%m"),
                through=through,
                month_to_date=to_date,
                trailing_daily_mean=_cents(mean),
                days_left=days_left,
                forecast=_cents(to_date + mean * days_left),
            )
        )
    return result


def _series(daily: pd.DataFrame) -> dict[Key, dict[dt.date, Decimal]]:
    out: dict[Key, dict[dt.date, Decimal]] = defaultdict(dict)
    if daily.empty:
        return out
    for row in daily.itertuples(index=False):
        key = (str(row.provider), str(row.account_id), str(row.service), str(row.currency))
        day = dt.date.fromisoformat(str(row.day))
        out[key][day] = out[key].get(day, Decimal(0)) + Decimal(str(row.cost))
    return out


def _today(as_of: dt.datetime) -> dt.date:
    return utc(as_of).date()


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_EVEN)


def _money(value: Decimal) -> str:
    return format(_cents(value), "f")
