"""Data health: for each collector, its last run, status, rows, error and watermark; how fresh
each billing account is and whether its periods are final; the price snapshots in use; and the
Slack notifications that were given up on (``failed`` in the outbox)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import components, data, metrics
from warehouse.billing_periods import FINAL_AFTER_DAYS


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
    url = data.database_url()
    runs = data.collector_health(url)
    loads, finished = data.billing_loads(url)
    snapshots = data.price_snapshots(url)
    failed_messages = data.failed_notifications(url)
    if not (runs or loads or snapshots or failed_messages):
        components.connect_source_panel("collector runs")
        return
    now = dt.datetime.now(dt.UTC)
    failing = [run for run in runs if run["status"] == "failed"]
    late_after = data.settings().dashboard.billing_late_after_days
    freshness = metrics.billing_freshness(
        loads, finished, today=now.date(), late_after_days=late_after
    )
    late = [row for row in freshness if row["feed"] == "late"]
    columns = st.columns(5)
    columns[0].metric("Sources", f"{len(runs)}")
    columns[1].metric("Failing now", f"{len(failing)}")
    columns[2].metric(
        "Late billing feeds",
        f"{len(late)}",
        help=f"Billing accounts whose latest charge day is over {late_after} days old "
        "([dashboard] billing_late_after_days).",
    )
    columns[3].metric("Rows in last runs", f"{sum(run['rows'] or 0 for run in runs):,}")
    columns[4].metric("Failed Slack messages", f"{len(failed_messages)}")
    for run in failing:
        st.error(f"{run['source']}: {run['error'] or 'failed without a message'}")
    if late:
        named = ", ".join(f"{row['provider']} {row['account']}" for row in late[:5])
        more = f" and {len(late) - 5} more" if len(late) > 5 else ""
        st.warning(
            f"Billing is over {late_after} days behind for {named}{more}: findings and spend "
            "for recent days are incomplete until those feeds catch up."
        )
    st.subheader("Collectors")
    if runs:
        _collectors(runs, now)
    else:
        st.caption("No collector has run yet (`spendwatch collect --list` names them).")
    _billing(freshness, late_after)
    _prices(snapshots)
    _failed_notifications(failed_messages)


def _collectors(runs: list[dict[str, Any]], now: dt.datetime) -> None:
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


def _billing(rows: list[dict[str, Any]], late_after: int) -> None:
    st.subheader("Billing freshness")
    if not rows:
        st.caption("No billing loaded yet.")
        return
    st.caption(
        "Latest charge day per provider and billing account, and how many days behind today "
        f"(UTC) it is: a feed over {late_after} days behind is **late**. Providers restate a "
        "month for a few days after it ends, so a billing period counts as **final** once a "
        f"delivery of it finished at least {FINAL_AFTER_DAYS} days after the period ended; "
        "until then it is "
        "**estimated**. A load with no recorded finish time counts as estimated."
    )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "provider": "Provider",
            "account": "Billing account",
            "feed": "Feed",
            "last_charge_day": st.column_config.DateColumn("Latest charge day"),
            "days_behind": st.column_config.NumberColumn("Days behind", format="%d"),
            "latest_period": "Latest period",
            "latest_period_status": "Latest period is",
            "final_periods": st.column_config.NumberColumn("Final periods", format="%d"),
            "estimated_periods": st.column_config.NumberColumn("Estimated periods", format="%d"),
        },
    )


def _prices(snapshots: list[dict[str, Any]]) -> None:
    st.subheader("Price snapshots")
    if not snapshots:
        st.caption(
            "No prices loaded: rightsizing, spot and storage findings fall back to built-in "
            "tables. `spendwatch collect price_snapshot` loads the shipped snapshot."
        )
        return
    st.dataframe(
        pd.DataFrame(snapshots),
        hide_index=True,
        width="stretch",
        column_config={
            "provider": "Provider",
            "source": "Source",
            "prices": st.column_config.NumberColumn("Prices", format="%d"),
            "first_effective": st.column_config.DatetimeColumn(
                "Effective from (first)", format="YYYY-MM-DD"
            ),
            "last_effective": st.column_config.DatetimeColumn(
                "Effective from (latest)", format="YYYY-MM-DD"
            ),
        },
    )


def _failed_notifications(rows: list[dict[str, Any]]) -> None:
    st.subheader("Failed Slack notifications")
    if not rows:
        st.caption("None: every Slack message was delivered or is still being retried.")
        return
    st.warning(
        f"{len(rows)} Slack messages were given up on (permanently rejected or out of "
        "retries). Fix the channel or token in [slack], then re-run `spendwatch alert`."
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "channel": row["channel"],
                    "event": row["event"],
                    "finding": (
                        f"#{row['finding_id']} {row['kind']} {row['resource_id']}"
                        if row["finding_id"] is not None
                        else "(digest)"
                    ),
                    "attempts": row["attempts"],
                    "last_error": row["last_error"] or "",
                    "created_at": row["created_at"],
                }
                for row in rows
            ]
        ),
        hide_index=True,
        width="stretch",
        column_config={
            "channel": "Channel",
            "event": "Event",
            "finding": st.column_config.TextColumn("Finding", width="medium"),
            "attempts": st.column_config.NumberColumn("Attempts", format="%d"),
            "last_error": st.column_config.TextColumn("Last error", width="large"),
            "created_at": st.column_config.DatetimeColumn(
                "Queued (UTC)", format="YYYY-MM-DD HH:mm"
            ),
        },
    )


with components.page_guard("Data health"):
    render()
