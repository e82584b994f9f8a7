"""Savings: every open recommendation with what it adds to the total, totals by kind and by
owner, and the savings realized after findings were resolved, by month of resolution.

Totals come from ``warehouse.findings_store.savings_totals`` and the per-row amounts from
``analytics.dedupe.counted_savings``: stopping, rightsizing and moving one instance to spot rule
each other out, so only the largest of them counts (the same figures `spendwatch savings` shows).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics.dedupe import counted_savings
from dashboard import components, data, metrics


def _totals_chart(totals: list[dict[str, Any]], group: str, *, title: str) -> None:
    rows = [row for row in totals if row["group"] == group and row["monthly_savings"] > 0]
    st.subheader(title)
    if not rows:
        st.caption("Nothing to show.")
        return
    frame = pd.DataFrame(
        {
            "key": [str(row["key"] or "(unowned)") for row in rows],
            "saving": [float(row["monthly_savings"]) for row in rows],  # floats only to draw
            "findings": [row["findings"] for row in rows],
        }
    ).iloc[::-1]
    figure = px.bar(
        frame, x="saving", y="key", orientation="h", custom_data=["findings"], labels={"key": ""}
    )
    figure.update_traces(
        hovertemplate="%{y}: %{x:,.2f} a month, %{customdata[0]} findings<extra></extra>"
    )
    figure.update_yaxes(type="category")
    currency = rows[0]["currency"]
    components.money_axis(
        components.style(figure, height=max(240, 36 * len(frame) + 90)), currency, axis="x"
    )
    figure.update_layout(xaxis_title_text=f"Saving per month ({currency})")
    st.plotly_chart(figure, width="stretch")


def _recommendations(rows: list[dict[str, Any]]) -> None:
    st.subheader("Open recommendations")
    counted = counted_savings(rows)
    frame = pd.DataFrame(
        [
            {
                "id": row["id"],
                "kind": row["kind"],
                "resource_id": row["resource_id"],
                "owner": row["owner"] or "(unowned)",
                "monthly_savings": row["monthly_savings"],
                "counted": amount,
                "currency": row["currency"],
                "recommendation": row["recommendation"],
            }
            for row, amount in zip(rows, counted, strict=True)
        ]
    )
    superseded = int(((frame["counted"] == 0) & (frame["monthly_savings"] > 0)).sum())
    if superseded:
        st.caption(
            f"{superseded} recommendations count 0: a larger one for the same instance "
            "(stop, rightsize or spot: you do one of them) already counts."
        )
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "id": st.column_config.NumberColumn("#", format="%d"),
            "kind": "Kind",
            "resource_id": "Resource",
            "owner": "Owner",
            "monthly_savings": st.column_config.NumberColumn("Saving / month", format="%.2f"),
            "counted": st.column_config.NumberColumn(
                "Counted in totals", format="%.2f", help="0 when a larger exclusive one counts."
            ),
            "currency": "Currency",
            "recommendation": st.column_config.TextColumn("Recommendation", width="large"),
        },
    )


REALIZED_MONTHS = 6  # the chart shows at least the last half year, quiet months as zero


def _realized(url: str) -> None:
    st.subheader("Realized savings by month resolved")
    frame = metrics.realized_by_month(data.realized_savings(url), at_least_months=REALIZED_MONTHS)
    if frame.empty:
        st.info(
            "No realized savings yet: a resolved finding's saving is measured from the bill "
            "once the week after it was resolved has been billed."
        )
        return
    chart = frame.assign(realized=frame["realized"].astype(float))
    figure = px.bar(chart, x="month", y="realized", color="currency", labels={"month": ""})
    figure.update_xaxes(type="category")
    figure.update_layout(yaxis_title_text="Realized saving per month")
    st.plotly_chart(components.style(figure, height=300), width="stretch")


def render() -> None:
    st.title("Savings")
    components.page_setup()  # keeps the global filters in the sidebar and the URL
    url = data.database_url()
    rows = data.findings(url, statuses=("open",))
    totals = data.savings_totals(url)
    if not rows and not data.realized_savings(url):
        components.connect_source_panel("open recommendations")
        st.caption("Recommendations appear after `spendwatch analyze` has run.")
        return
    overall = [row for row in totals if row["group"] == "total"]
    columns = st.columns(3)
    columns[0].metric("Open recommendations", f"{len(rows)}")
    columns[1].metric(
        "Potential saving / month",
        " + ".join(components.money(r["monthly_savings"], r["currency"]) for r in overall)
        or components.money(Decimal(0), "USD"),
        help="Open findings, each instance's exclusive recommendations counted once.",
    )
    columns[2].metric(
        "Realized saving / month",
        " + ".join(components.money(r["realized_monthly_savings"], r["currency"]) for r in overall)
        or components.money(Decimal(0), "USD"),
        help="Measured on the bill after findings were resolved.",
    )
    left, right = st.columns(2)
    with left:
        _totals_chart(totals, "kind", title="By kind")
    with right:
        _totals_chart(totals, "owner", title="By owner")
    if rows:
        _recommendations(rows)
    _realized(url)


with components.page_guard("Savings"):
    render()
