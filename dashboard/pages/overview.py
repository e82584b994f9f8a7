"""Overview: month-to-date spend and the month-end forecast, daily spend by provider, service and
team, the top services and the top movers against the previous period, and open spend anomalies.

Every spend figure is cut from one cached daily rollup (``data.spend_rollup``), so the page reads
the line items once per cache period, whatever the filters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import components, data, metrics

TOP_KEYS_IN_CHART = 8


def _previous_month_same_days(end: dt.date) -> tuple[dt.date, dt.date]:
    """The first ``end.day`` days of the month before ``end`` (clamped to that month)."""
    last_of_previous = end.replace(day=1) - dt.timedelta(days=1)
    start = last_of_previous.replace(day=1)
    return start, min(last_of_previous, start + dt.timedelta(days=end.day - 1))


def _daily_chart(frame: pd.DataFrame, *, currency: str | None, legend: str) -> None:
    chart = frame.assign(cost=frame["cost"].astype(float))  # floats only to draw
    figure = px.bar(chart, x="day", y="cost", color="key", labels={"key": legend, "day": ""})
    figure.update_traces(hovertemplate="%{x|%Y-%m-%d}<br>%{y:,.2f}<extra>%{fullData.name}</extra>")
    components.money_axis(components.style(figure), currency)
    st.plotly_chart(figure, width="stretch")


def _rollup_start(filters: components.Filters, *, trailing_days: int) -> dt.date:
    """From the first day any figure needs; whole months, so nearby ranges share a cache entry."""
    previous_start, _ = metrics.previous_period(filters.start, filters.end)
    month_before, _ = _previous_month_same_days(filters.end)
    trailing = filters.end.replace(day=1) - dt.timedelta(days=trailing_days)
    return min(previous_start, month_before, trailing).replace(day=1)


def _headline(
    rows: list[dict[str, Any]], filters: components.Filters, *, trailing_days: int
) -> Decimal:
    scope = {"provider": filters.provider, "currency": filters.currency}
    month_start = filters.end.replace(day=1)
    mtd = metrics.total(metrics.in_scope(rows, start=month_start, end=filters.end, **scope))
    previous_start, previous_end = _previous_month_same_days(filters.end)
    previous = metrics.total(
        metrics.in_scope(rows, start=previous_start, end=previous_end, **scope)
    )
    in_range = metrics.total(metrics.in_scope(rows, start=filters.start, end=filters.end, **scope))
    forecast = metrics.month_forecast(
        rows,
        end=filters.end,
        now=dt.datetime.now(dt.UTC),
        trailing_days=trailing_days,
        **scope,
    )
    days = (filters.end - filters.start).days + 1
    money = components.money
    columns = st.columns(5)
    columns[0].metric(
        "Month to date",
        money(mtd, filters.currency),
        delta=money(mtd - previous, filters.currency) if previous else None,
        delta_color="inverse",
        help=f"{month_start:%B %Y}, day 1 to {filters.end.day}: billed cost up to the end of the "
        "selected range. The delta compares the same days of the previous month.",
    )
    if forecast.complete:
        forecast_help = f"{month_start:%B %Y} is over: this is what was billed."
    else:
        forecast_help = (
            f"Billed cost for {month_start:%B %Y}: month to date, plus for each day left the "
            f"mean usage spend of the {trailing_days} days ending "
            f"{forecast.through or 'at the last billed day'} (credits, refunds and other "
            "one-off charges are counted as billed, not projected)."
        )
    columns[1].metric(
        "Month-end forecast", money(forecast.forecast, filters.currency), help=forecast_help
    )
    columns[2].metric("Selected range", money(in_range, filters.currency))
    columns[3].metric("Daily average", money(in_range / days, filters.currency))
    columns[4].metric("Days", f"{days}", help=f"{filters.start} to {filters.end} (UTC)")
    st.caption(
        f"Billed cost in {filters.currency}, {filters.start} to {filters.end} (UTC); "
        f"month to date is {month_start:%B %Y} through day {filters.end.day}."
    )
    return in_range


def _top_services(
    rows: Sequence[Mapping[str, Any]], *, in_range: Decimal, currency: str | None
) -> None:
    st.subheader("Top services")
    sums = metrics.sum_by(rows, lambda row: (row["provider"], row["service"]))
    services = pd.DataFrame(
        [
            {"provider": p, "service": s, "cost": cost}
            for (p, s), cost in sorted(sums.items(), key=lambda item: -item[1])[:10]
        ],
        columns=["provider", "service", "cost"],
    )
    services["share"] = [float(cost / in_range) if in_range else 0.0 for cost in services["cost"]]
    st.dataframe(
        services,
        hide_index=True,
        width="stretch",
        column_order=["service", "provider", "cost", "share"],  # fits half the page
        column_config={
            "provider": "Provider",
            "service": "Service",
            "cost": st.column_config.NumberColumn(f"Billed ({currency})", format="%.2f"),
            "share": st.column_config.ProgressColumn(
                "Share", format="percent", min_value=0, max_value=1
            ),
        },
    )


def _movers(rows: list[dict[str, Any]], filters: components.Filters) -> None:
    previous_start, previous_end = metrics.previous_period(filters.start, filters.end)
    st.subheader("Top movers")
    st.caption(f"Billed cost per service against {previous_start} to {previous_end}.")
    scope = {"provider": filters.provider, "currency": filters.currency}
    movers = metrics.top_movers(
        metrics.in_scope(rows, start=filters.start, end=filters.end, **scope),
        metrics.in_scope(rows, start=previous_start, end=previous_end, **scope),
    )
    if not movers:
        st.info("No service cost moved between the two periods.")
        return
    frame = pd.DataFrame(movers)
    # A service with no cost before has no percentage change: say it is new instead.
    frame["change_pct"] = ["new" if p is None else f"{p:+.1%}" for p in frame["change_pct"]]
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "provider": "Provider",
            "service": "Service",
            "previous": st.column_config.NumberColumn("Previous period", format="%.2f"),
            "current": st.column_config.NumberColumn("This period", format="%.2f"),
            "change": st.column_config.NumberColumn("Change", format="%+.2f"),
            "change_pct": st.column_config.TextColumn("Change %"),
        },
    )


def _anomalies(url: str, filters: components.Filters) -> None:
    st.subheader("Spend anomalies (open)")
    rows = [
        row
        for row in data.findings(url, kinds=("spend_anomaly",), statuses=("open",))
        if filters.provider is None or row["provider"] == filters.provider
    ]
    if not rows:
        st.success("No open spend anomalies.")
        return
    frame = pd.DataFrame(
        [
            {
                "day": (row["evidence"] or {}).get("day"),
                "what": row["resource_id"],
                "amount": (row["evidence"] or {}).get("amount"),
                "baseline": (row["evidence"] or {}).get("baseline_median"),
                "robust_z": (row["evidence"] or {}).get("robust_z"),
                "currency": row["currency"],
            }
            for row in rows
        ]
    ).sort_values("day", ascending=False)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "day": "Day (UTC)",
            "what": st.column_config.TextColumn("Provider / account / service", width="large"),
            "amount": "Spend that day",
            "baseline": "Usual (28-day median)",
            "robust_z": st.column_config.NumberColumn("Robust z", format="%.1f"),
            "currency": "Currency",
        },
    )
    st.caption("A blank z means the baseline was flat: any rise is unusual, the amount decided.")


def render() -> None:
    st.title("Overview")
    window, filters = components.page_setup()
    if filters is None or not (window or {}).get("has_billing"):
        components.connect_source_panel("billing data")
        return
    url = data.database_url()
    settings = data.settings()
    team_tag = settings.tags.team
    # The forecast's trailing window is the same setting the analysis uses.
    trailing_days = settings.analytics.spend_anomaly.forecast_trailing_days
    start = _rollup_start(filters, trailing_days=trailing_days)
    rows = data.spend_rollup(url, start=start, end=filters.end, team_tag=team_tag)
    in_range = _headline(rows, filters, trailing_days=trailing_days)
    selected = metrics.in_scope(
        rows,
        start=filters.start,
        end=filters.end,
        provider=filters.provider,
        currency=filters.currency,
    )
    if not selected:
        st.info("No billed cost in this range. Widen the dates or pick another provider.")
        return
    left, right = st.columns(2)
    with left:
        st.subheader("Daily spend by provider")
        _daily_chart(
            metrics.daily_by(selected, "provider"), currency=filters.currency, legend="Provider"
        )
    with right:
        st.subheader("Daily spend by service")
        _daily_chart(
            metrics.daily_by(selected, "service", top=TOP_KEYS_IN_CHART),
            currency=filters.currency,
            legend="Service",
        )
    left, right = st.columns(2)
    with left:
        st.subheader(f"Daily spend by team (tag `{team_tag}`)")
        _daily_chart(
            metrics.daily_by(selected, "team", top=TOP_KEYS_IN_CHART),
            currency=filters.currency,
            legend="Team",
        )
    with right:
        _top_services(selected, in_range=in_range, currency=filters.currency)
    _movers(rows, filters)
    _anomalies(url, filters)


with components.page_guard("Overview"):
    render()
