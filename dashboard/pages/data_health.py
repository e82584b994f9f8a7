"""Data health: for each collector, its last run, status, rows, error and watermark."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard import components, data


def _age(value: dt.datetime | None, now: dt.datetime) -> str:
    if value is None:
        return "never"
    hours = (now - value).total_seconds() / 3600
    if hours < 1:
        return "within the hour"
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


def render() -> None:
    st.title("Data health")
    components.page_setup()  # keeps the global filters in the sidebar and the URL
    runs = data.collector_health(data.database_url())
    if not runs:
        components.connect_source_panel("collector runs")
        return
    now = dt.datetime.now(dt.UTC)
    failing = [run for run in runs if run["status"] == "failed"]
    columns = st.columns(3)
    columns[0].metric("Sources", f"{len(runs)}")
    columns[1].metric("Failing now", f"{len(failing)}")
    columns[2].metric("Rows in last runs", f"{sum(run['rows'] or 0 for run in runs):,}")
    for run in failing:
        st.error(f"{run['source']}: {run['error'] or 'failed without a message'}")

    frame = pd.DataFrame(
        [
            {
                "source": run["source"],
                "status": run["status"],
                "last_run": run["started_at"],
                "last_success": _age(run["last_success"], now),
                "rows": run["rows"],
                "window_start": run["window_start"],
                "window_end": run["window_end"],
                "watermark": run["watermark"],
                "error": run["error"] or "",
            }
            for run in runs
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "source": "Source",
            "status": "Status",
            "last_run": st.column_config.DatetimeColumn(
                "Last run (UTC)", format="YYYY-MM-DD HH:mm"
            ),
            "last_success": "Last success",
            "rows": st.column_config.NumberColumn("Rows", format="%d"),
            "window_start": st.column_config.DatetimeColumn(
                "Window from", format="YYYY-MM-DD HH:mm"
            ),
            "window_end": st.column_config.DatetimeColumn("Window to", format="YYYY-MM-DD HH:mm"),
            "watermark": st.column_config.DatetimeColumn("Watermark", format="YYYY-MM-DD HH:mm"),
            "error": st.column_config.TextColumn("Error", width="large"),
        },
    )


with components.page_guard("Data health"):
    render()
