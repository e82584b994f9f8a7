"""Findings: filter by kind, status and owner; read the evidence; snooze, dismiss or reopen.

The only writes the dashboard makes are these actions, and they go through
``warehouse.findings_store.set_finding_status`` so the lifecycle rules live in one place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics.dedupe import counted_savings
from dashboard import components, data
from warehouse.findings_store import Action, set_finding_status

GPU_KINDS = ("idle_gpu", "unmonitored_gpu", "gpu_rightsizing", "spot_candidate")
MAX_CHART_DAYS = 14
TABLE_COLUMNS = [
    "id",
    "kind",
    "monthly_savings",
    "currency",
    "status",
    "owner",
    "team",
    "provider",
    "resource_id",
    "confidence",
    "recommendation",
    "snoozed_until",
    "dismissed_reason",
    "first_seen",
    "last_seen",
]


def _filters(facets: dict[str, list[str]]) -> tuple[list[str], list[str], list[str]]:
    columns = st.columns(3)
    kinds = columns[0].multiselect("Kind", facets["kind"], key="findings_kind")
    default_status = ["open"] if "open" in facets["status"] else []
    if "findings_status" not in st.session_state:
        st.session_state["findings_status"] = default_status
    statuses = columns[1].multiselect("Status", facets["status"], key="findings_status")
    owners = columns[2].multiselect("Owner", facets["owner"], key="findings_owner")
    return kinds, statuses, owners


def _label(row: dict[str, Any]) -> str:
    saving = components.money(row["monthly_savings"], row["currency"])
    return f"#{row['id']} {row['kind']} · {row['resource_id'].rsplit('/', 1)[-1]} · {saving}/mo"


def _act(url: str, *, finding_id: int, action: Action, **details: Any) -> None:
    set_finding_status(
        data.engine(url),
        finding_id=finding_id,
        action=action,
        at=dt.datetime.now(dt.UTC),
        **details,
    )
    data.forget_findings()
    st.session_state["findings_flash"] = f"Finding #{finding_id}: {action} saved."
    st.rerun()


def _actions(url: str, row: dict[str, Any]) -> None:
    left, right = st.columns(2)
    with left.form(f"snooze_{row['id']}"):
        tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        until = st.date_input(
            "Snooze until (UTC)", value=tomorrow + dt.timedelta(days=6), min_value=tomorrow
        )
        if st.form_submit_button("Snooze", icon=":material/snooze:") and isinstance(until, dt.date):
            at_midnight = dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC)
            _act(url, finding_id=row["id"], action="snooze", until=at_midnight)
    with right.form(f"dismiss_{row['id']}"):
        reason = st.text_input("Dismiss: why is this not worth doing?")
        if st.form_submit_button("Dismiss", icon=":material/block:"):
            if reason.strip():
                _act(url, finding_id=row["id"], action="dismiss", reason=reason.strip())
            else:
                st.warning("Give a reason, so the next person knows why it was dismissed.")
    if row["status"] in ("snoozed", "dismissed") and st.button(
        "Reopen", key=f"reopen_{row['id']}", icon=":material/undo:"
    ):
        _act(url, finding_id=row["id"], action="reopen")


def _detail(url: str, row: dict[str, Any]) -> None:
    st.subheader(_label(row))
    st.markdown(f"**Recommendation:** {row['recommendation']}")
    facts = st.columns(3)
    facts[0].metric("Saving / month", components.money(row["monthly_savings"], row["currency"]))
    facts[1].metric("Status", row["status"])
    facts[2].metric("Confidence", row["confidence"])
    st.markdown(
        f"**Owner:** `{row['owner'] or 'unowned'}` · **Team:** `{row['team'] or 'none'}` · "
        f"**Resource:** `{row['resource_id']}`"
    )
    if row["status"] == "snoozed" and row["snoozed_until"]:
        st.caption(f"Snoozed until {row['snoozed_until']:%Y-%m-%d %H:%M} UTC.")
    if row["status"] == "dismissed":
        st.caption(f"Dismissed: {row['dismissed_reason'] or 'no reason given'}.")
    _evidence_chart(url, row)
    st.markdown("**Evidence**")
    st.json(row["evidence"], expanded=True)
    _actions(url, row)


def _evidence_window(evidence: dict[str, Any]) -> tuple[dt.datetime, dt.datetime] | None:
    """The hours to chart: the rule's window, widened back to when an idle streak began (at
    most :data:`MAX_CHART_DAYS` before the window's end)."""
    try:
        start = dt.datetime.fromisoformat(str(evidence["window_start"]).replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(str(evidence["window_end"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    if evidence.get("idle_since"):
        with contextlib.suppress(ValueError):
            since = dt.datetime.fromisoformat(str(evidence["idle_since"]).replace("Z", "+00:00"))
            start = min(start, since - dt.timedelta(hours=12))
    return max(start, end - dt.timedelta(days=MAX_CHART_DAYS)), end


def _evidence_chart(url: str, row: dict[str, Any]) -> None:
    """Hourly utilization behind a GPU finding, from ``gpu_hourly`` over the finding's window."""
    if row["kind"] not in GPU_KINDS:
        return
    window = _evidence_window(row["evidence"] or {})
    if window is None:
        return
    series = data.gpu_series(url, resource_id=row["resource_id"], start=window[0], end=window[1])
    st.markdown(
        f"**GPU utilization per hour**, {window[0]:%Y-%m-%d %H:%M} to "
        f"{window[1]:%Y-%m-%d %H:%M} UTC"
    )
    if series.empty:
        st.caption("No GPU telemetry for this resource in the finding's window.")
        return
    chart = series.melt(
        id_vars="hour", value_vars=["util_avg", "util_max"], var_name="measure", value_name="util"
    )
    chart["measure"] = chart["measure"].map(
        {"util_avg": "Average over GPUs", "util_max": "Busiest GPU (max)"}
    )
    figure = px.line(
        chart,
        x="hour",
        y="util",
        color="measure",
        labels={"hour": "", "util": "GPU utilization (%)", "measure": ""},
        range_y=[0, 100],
    )
    st.plotly_chart(components.style(figure, height=280), width="stretch")


def render() -> None:
    st.title("Findings")
    flash = st.session_state.pop("findings_flash", None)
    if flash:
        st.success(flash)
    components.page_setup()  # keeps the global filters in the sidebar and the URL
    url = data.database_url()
    facets = data.finding_facets(url)
    if not facets["kind"]:
        components.connect_source_panel("findings")
        st.caption("Findings appear after `spendwatch analyze` has run on billing and telemetry.")
        return
    kinds, statuses, owners = _filters(facets)
    rows = data.findings(url, kinds=tuple(kinds), statuses=tuple(statuses), owners=tuple(owners))
    # Stop, rightsize and spot on one instance exclude each other: count the largest only.
    total = sum(counted_savings(rows), Decimal(0))
    currency = rows[0]["currency"] if rows else None
    columns = st.columns(3)
    columns[0].metric("Findings", f"{len(rows)}")
    columns[1].metric(
        "Total saving / month",
        components.money(total, currency),
        help="Each instance's stop, rightsize and spot findings exclude each other: only the "
        "largest counts.",
    )
    columns[2].metric("Owners", f"{len({row['owner'] for row in rows if row['owner']})}")
    if not rows:
        st.info("No findings match these filters.")
        return

    frame = pd.DataFrame([{column: row[column] for column in TABLE_COLUMNS} for row in rows])
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "monthly_savings": st.column_config.NumberColumn("Saving / month", format="%.2f"),
            "recommendation": st.column_config.TextColumn("Recommendation", width="large"),
            "resource_id": "Resource",
        },
    )
    export = frame.copy()
    export["evidence"] = [row["evidence"] for row in rows]
    st.download_button(
        "Download CSV",
        data=export.to_csv(index=False).encode(),  # Decimal prints exactly, no float rounding
        file_name="spendwatch-findings.csv",
        mime="text/csv",
        icon=":material/download:",
    )
    by_id = {row["id"]: row for row in rows}
    chosen = st.selectbox(
        "Finding", list(by_id), format_func=lambda finding_id: _label(by_id[finding_id])
    )
    if chosen is not None:
        _detail(url, by_id[chosen])


with components.page_guard("Findings"):
    render()
