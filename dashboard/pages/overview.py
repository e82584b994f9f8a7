"""Overview: month-to-date spend, daily spend by provider and by service, spend by team, and the
top services."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import components, data

TOP_SERVICES_IN_CHART = 8


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


def render() -> None:
    st.title("Overview")
    window, filters = components.page_setup()
    if filters is None or not (window or {}).get("has_billing"):
        components.connect_source_panel("billing data")
        return
    url = data.database_url()
    scope = {"provider": filters.provider, "currency": filters.currency}
    month_start = filters.end.replace(day=1)
    mtd = data.total_spend(url, start=month_start, end=filters.end, **scope)
    previous_start, previous_end = _previous_month_same_days(filters.end)
    previous = data.total_spend(url, start=previous_start, end=previous_end, **scope)
    in_range = data.total_spend(url, start=filters.start, end=filters.end, **scope)
    days = (filters.end - filters.start).days + 1

    columns = st.columns(4)
    columns[0].metric(
        "Month to date",
        components.money(mtd, filters.currency),
        delta=components.money(mtd - previous, filters.currency) if previous else None,
        delta_color="inverse",
        help=f"{month_start:%B %Y}, day 1 to {filters.end.day}: billed cost up to the end of the "
        "selected range. The delta compares the same days of the previous month.",
    )
    columns[1].metric("Selected range", components.money(in_range, filters.currency))
    columns[2].metric("Daily average", components.money(in_range / days, filters.currency))
    columns[3].metric("Days", f"{days}", help=f"{filters.start} to {filters.end} (UTC)")
    st.caption(
        f"Billed cost in {filters.currency}, {filters.start} to {filters.end} (UTC); "
        f"month to date is {month_start:%B %Y} through day {filters.end.day}."
    )

    by_provider = data.daily_spend(
        url, start=filters.start, end=filters.end, by="provider", **scope
    )
    if by_provider.empty:
        st.info("No billed cost in this range. Widen the dates or pick another provider.")
        return
    left, right = st.columns(2)
    with left:
        st.subheader("Daily spend by provider")
        _daily_chart(by_provider, currency=filters.currency, legend="Provider")
    with right:
        st.subheader("Daily spend by service")
        by_service = data.daily_spend(
            url, start=filters.start, end=filters.end, by="service", **scope
        )
        totals = by_service.groupby("key")["cost"].sum().sort_values(ascending=False)
        keep = set(totals.index[:TOP_SERVICES_IN_CHART])
        by_service["key"] = [key if key in keep else "Other" for key in by_service["key"]]
        by_service = by_service.groupby(["day", "key"], as_index=False).agg(cost=("cost", "sum"))
        _daily_chart(by_service, currency=filters.currency, legend="Service")

    left, right = st.columns(2)
    with left:
        tag_key = data.settings().tags.team
        st.subheader(f"Spend by team (tag `{tag_key}`)")
        teams = data.spend_by_tag(
            url, tag_key=tag_key, start=filters.start, end=filters.end, **scope
        )
        teams["value"] = teams["value"].fillna("(untagged)")
        chart = teams.assign(cost=teams["cost"].astype(float)).iloc[::-1]
        figure = px.bar(chart, x="cost", y="value", orientation="h", labels={"value": ""})
        figure.update_traces(hovertemplate="%{y}: %{x:,.2f}<extra></extra>")
        components.money_axis(components.style(figure, height=320), filters.currency, axis="x")
        st.plotly_chart(figure, width="stretch")
    with right:
        st.subheader("Top services")
        services = data.top_services(url, start=filters.start, end=filters.end, **scope)
        st.dataframe(
            services.assign(
                share=[cost / in_range if in_range else 0 for cost in services["cost"]]
            ),
            hide_index=True,
            width="stretch",
            column_config={
                "provider": "Provider",
                "service": "Service",
                "category": "Category",
                "cost": st.column_config.NumberColumn(
                    f"Billed ({filters.currency})", format="%.2f"
                ),
                "line_items": None,  # hidden: kept in the frame for the CSV-minded
                "share": st.column_config.ProgressColumn(
                    "Share", format="percent", min_value=0, max_value=1
                ),
            },
        )


with components.page_guard("Overview"):
    render()
