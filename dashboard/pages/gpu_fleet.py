"""GPU fleet: utilization per host and day, GPU-hours bought versus used, utilization per GPU
model and per team, and the open idle-GPU findings with their owners, cost so far and savings."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard import components, data


def _heatmap(frame: pd.DataFrame) -> None:
    per_host_day = frame.groupby(["host", "day"], as_index=False)[
        ["util_sum", "util_samples"]
    ].sum()
    per_host_day["util"] = per_host_day["util_sum"] / per_host_day["util_samples"].where(
        per_host_day["util_samples"] > 0
    )
    grid = per_host_day.pivot(index="host", columns="day", values="util").sort_index(
        ascending=False
    )
    figure = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=[str(day) for day in grid.columns],
            y=list(grid.index),
            zmin=0,
            zmax=100,
            colorscale="Viridis",
            colorbar={"title": {"text": "util %"}},
            hovertemplate="%{y}<br>%{x}<br>%{z:.0f}% average<extra></extra>",
        )
    )
    figure.update_yaxes(type="category", tickfont={"size": 11})
    figure.update_xaxes(type="category", tickangle=-45)
    components.style(figure, height=max(320, 22 * len(grid.index) + 120))
    st.plotly_chart(figure, width="stretch")


def _bought_vs_used(frame: pd.DataFrame) -> None:
    per_day = frame.groupby("day", as_index=False)[["gpu_hours", "util_sum"]].sum()
    per_day["used"] = per_day["util_sum"] / 100
    chart = per_day.melt(
        id_vars="day", value_vars=["gpu_hours", "used"], var_name="kind", value_name="hours"
    )
    chart["kind"] = chart["kind"].map({"gpu_hours": "Bought", "used": "Used"})
    figure = px.bar(
        chart,
        x="day",
        y="hours",
        color="kind",
        barmode="overlay",
        opacity=0.85,
        labels={"day": "", "hours": "GPU-hours", "kind": ""},
        color_discrete_map={"Bought": "#b0bec5", "Used": "#2e7d32"},
    )
    st.plotly_chart(components.style(figure, height=300), width="stretch")


def _utilization_by(frame: pd.DataFrame, column: str, *, label: str) -> None:
    """Average utilization per ``column``, weighting every GPU-hour alike."""
    grouped = frame.groupby(column, as_index=False)[["util_sum", "util_samples", "gpu_hours"]].sum()
    grouped["util"] = grouped["util_sum"] / grouped["util_samples"].where(
        grouped["util_samples"] > 0
    )
    grouped = grouped.sort_values("util")
    figure = px.bar(
        grouped,
        x="util",
        y=column,
        orientation="h",
        custom_data=["gpu_hours"],
        labels={"util": "Average GPU utilization (%)", column: ""},
        range_x=[0, 100],
    )
    figure.update_traces(
        marker_color="#2e7d32",
        hovertemplate="%{y}<br>%{x:.1f}% over %{customdata[0]:,} GPU-hours"
        + f"<extra>{label}</extra>",
    )
    figure.update_yaxes(type="category")
    st.plotly_chart(
        components.style(figure, height=max(220, 34 * len(grouped) + 90)), width="stretch"
    )


def _idle_list(url: str, currency: str | None) -> None:
    st.subheader("Idle GPUs (open findings)")
    rows = data.findings(url, kinds=("idle_gpu",), statuses=("open",))
    if not rows:
        st.success("No open idle-GPU findings. Run `spendwatch analyze` after new telemetry.")
        return
    total = sum((row["monthly_savings"] for row in rows), Decimal(0))
    st.caption(
        f"{len(rows)} idle resources; {components.money(total, currency)} a month could be saved."
    )
    frame = pd.DataFrame(
        [
            {
                "resource": row["resource_id"],
                "owner": row["owner"],
                "team": row["team"],
                "idle_since": (row["evidence"] or {}).get("idle_since"),
                "cost_so_far": _decimal((row["evidence"] or {}).get("cost_so_far")),
                "monthly_savings": row["monthly_savings"],
                "recommendation": row["recommendation"],
            }
            for row in rows
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "resource": "Resource",
            "owner": "Owner",
            "team": "Team",
            "idle_since": "Idle since (UTC)",
            "cost_so_far": st.column_config.NumberColumn(
                "Cost while idle",
                format="%.2f",
                help="Hourly cost × hours idle so far (from the finding's evidence).",
            ),
            "monthly_savings": st.column_config.NumberColumn("Saving / month", format="%.2f"),
            "recommendation": st.column_config.TextColumn("Recommendation", width="large"),
        },
    )


def _decimal(value: object) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def render() -> None:
    st.title("GPU fleet")
    window, filters = components.page_setup()
    if filters is None or not (window or {}).get("has_gpu"):
        components.connect_source_panel("GPU telemetry")
        return
    url = data.database_url()
    frame = data.gpu_host_days(
        url, start=filters.start, end=filters.end, provider=filters.provider_code
    )
    if frame.empty:
        st.info("No GPU telemetry in this range for this provider. Widen the dates.")
        _idle_list(url, filters.currency)
        return
    bought = int(frame["gpu_hours"].sum())
    used = float(frame["util_sum"].sum()) / 100
    idle = data.findings(url, kinds=("idle_gpu",), statuses=("open",))
    idle_savings = sum((row["monthly_savings"] for row in idle), Decimal(0))

    columns = st.columns(4)
    columns[0].metric("Hosts", f"{frame['resource_id'].nunique()}")
    columns[1].metric("GPU-hours bought", f"{bought:,}")
    columns[2].metric(
        "GPU-hours used",
        f"{used:,.0f}",
        help="Sum of hourly average utilization / 100: a GPU at 50% for 2 hours used 1 GPU-hour.",
    )
    columns[3].metric("Fleet utilization", f"{used / bought:.1%}" if bought else "n/a")
    st.caption(
        f"{filters.start} to {filters.end} (UTC). Open idle-GPU findings: {len(idle)}, "
        f"{components.money(idle_savings, filters.currency)} a month."
    )

    st.subheader("Average GPU utilization per host and day")
    _heatmap(frame)
    st.subheader("GPU-hours bought vs used per day")
    _bought_vs_used(frame)
    left, right = st.columns(2)
    with left:
        st.subheader("Utilization per GPU model")
        _utilization_by(frame, "gpu_model", label="model")
    with right:
        st.subheader("Utilization per team")
        _utilization_by(frame, "team", label="team")
    _idle_list(url, filters.currency)


with components.page_guard("GPU fleet"):
    render()
