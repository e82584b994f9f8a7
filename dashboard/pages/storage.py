"""Storage: bytes and monthly cost per storage class (newest inventory snapshot), the open
cold-tier candidates with their savings, and every prefix with lifecycle-managed ones marked.

Cost uses the prices the ``cold_storage`` rule uses: the prices table where a snapshot has
them, else the rule's documented price table (``analytics.policies``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics.policies import ColdStoragePolicy
from dashboard import components, data, metrics

TIB = 1 << 40
GIB = 1 << 30


def _tiers(tiers: pd.DataFrame) -> None:
    chart = tiers.assign(
        cost=tiers["cost"].astype(float),
        tib=tiers["bytes"] / TIB,
        tier=tiers["provider"] + " " + tiers["storage_class"],
    )
    left, right = st.columns(2)
    with left:
        st.subheader("Monthly cost per storage class")
        figure = px.bar(chart, x="cost", y="tier", orientation="h", labels={"tier": ""})
        figure.update_traces(hovertemplate="%{y}: %{x:,.2f} a month<extra></extra>")
        figure.update_yaxes(type="category", categoryorder="total ascending")
        components.money_axis(components.style(figure, height=320), "USD", axis="x")
        figure.update_layout(xaxis_title_text="Monthly cost (USD)")
        st.plotly_chart(figure, width="stretch")
    with right:
        st.subheader("Stored per storage class")
        figure = px.bar(chart, x="tib", y="tier", orientation="h", labels={"tier": ""})
        figure.update_traces(hovertemplate="%{y}: %{x:,.2f} TiB<extra></extra>")
        figure.update_yaxes(type="category", categoryorder="total ascending")
        figure.update_layout(xaxis_title_text="TiB")
        st.plotly_chart(components.style(figure, height=320), width="stretch")
    st.dataframe(
        tiers.assign(gib=(tiers["bytes"] / GIB).round(1)).drop(columns=["bytes"]),
        hide_index=True,
        width="stretch",
        column_order=["provider", "storage_class", "gib", "objects", "prefixes", "cost", "priced"],
        column_config={
            "provider": "Provider",
            "storage_class": "Storage class",
            "gib": st.column_config.NumberColumn("GiB", format="%.1f"),
            "objects": st.column_config.NumberColumn("Objects", format="%d"),
            "prefixes": "Prefixes",
            "cost": st.column_config.NumberColumn("USD / month", format="%.2f"),
            "priced": st.column_config.CheckboxColumn(
                "Priced", help="False: no price known for this class; its bytes cost 0 here."
            ),
        },
    )


def _candidates(url: str, provider_code: str | None) -> None:
    st.subheader("Cold-tier candidates (open findings)")
    rows = [
        row
        for row in data.findings(url, kinds=("cold_storage",), statuses=("open",))
        if provider_code is None or row["provider"] == provider_code
    ]
    if not rows:
        st.success("No open cold-storage findings.")
        return
    total = sum((row["monthly_savings"] for row in rows), Decimal(0))
    st.caption(f"{len(rows)} prefixes could move colder: {components.money(total, 'USD')} a month.")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "location": row["resource_id"],
                    "gb": (row["evidence"] or {}).get("movable_gb"),
                    "idle_days": (row["evidence"] or {}).get("idle_days"),
                    "basis": (row["evidence"] or {}).get("idle_basis"),
                    "move": f"{(row['evidence'] or {}).get('storage_class')} → "
                    f"{(row['evidence'] or {}).get('target_class')}",
                    "monthly_savings": row["monthly_savings"],
                    "confidence": row["confidence"],
                }
                for row in rows
            ]
        ),
        hide_index=True,
        width="stretch",
        column_config={
            "location": st.column_config.TextColumn("Prefix", width="large"),
            "gb": st.column_config.NumberColumn("GB to move", format="%.1f"),
            "idle_days": "Idle days",
            "basis": "Not … since",
            "move": "Move",
            "monthly_savings": st.column_config.NumberColumn("Saving / month", format="%.2f"),
            "confidence": "Confidence",
        },
    )


def _prefixes(inventory: pd.DataFrame) -> None:
    st.subheader("Prefixes")
    frame = pd.DataFrame(
        {
            "location": inventory["bucket"] + "/" + inventory["prefix"],
            "provider": inventory["provider"],
            "storage_class": inventory["storage_class"],
            "gib": (inventory["bytes"].astype(float) / GIB).round(2),
            "objects": inventory["objects"],
            "last_modified": inventory["last_modified"],
            "last_accessed": inventory["last_accessed"],
            "lifecycle_managed": inventory["lifecycle_managed"].astype(bool),
        }
    ).sort_values("gib", ascending=False)
    managed = int(frame["lifecycle_managed"].sum())
    st.caption(
        f"{managed} of {len(frame)} prefix rows are lifecycle-managed (a lifecycle rule, "
        "Intelligent-Tiering or Autoclass already moves them): the cold_storage rule skips them."
    )
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "location": st.column_config.TextColumn("Bucket / prefix", width="large"),
            "provider": "Provider",
            "storage_class": "Class",
            "gib": st.column_config.NumberColumn("GiB", format="%.2f"),
            "objects": st.column_config.NumberColumn("Objects", format="%d"),
            "last_modified": st.column_config.DatetimeColumn("Last modified", format="YYYY-MM-DD"),
            "last_accessed": st.column_config.DatetimeColumn("Last read", format="YYYY-MM-DD"),
            "lifecycle_managed": st.column_config.CheckboxColumn("Lifecycle-managed"),
        },
    )


def render() -> None:
    st.title("Storage")
    _window, filters = components.page_setup()
    url = data.database_url()
    inventory, prices = data.storage(url, as_of=dt.datetime.now(dt.UTC).replace(microsecond=0))
    if inventory.empty:
        components.connect_source_panel("storage inventory")
        st.caption("`spendwatch collect s3_storage` reads S3 Inventory reports or lists buckets.")
        return
    code = filters.provider_code if filters is not None else None
    if code is not None:
        inventory = inventory[inventory["provider"] == code]
        if inventory.empty:
            st.info(f"No storage inventory for {filters.provider if filters else code}.")
            return
    tiers = metrics.tier_costs(inventory, prices, policy=ColdStoragePolicy())
    snapshot = inventory["snapshot_at"].max()
    columns = st.columns(4)
    columns[0].metric("Stored", f"{inventory['bytes'].astype(float).sum() / TIB:,.2f} TiB")
    columns[1].metric(
        "Monthly cost",
        components.money(sum(tiers["cost"], Decimal(0)), "USD"),
        help="Bytes × price per GB-month (GB = 2^30 bytes), per storage class.",
    )
    columns[2].metric("Prefixes", f"{len(inventory.drop_duplicates(['bucket', 'prefix'])):,}")
    columns[3].metric(
        "Newest snapshot",
        f"{pd.Timestamp(snapshot):%Y-%m-%d}",
        help=f"Taken {pd.Timestamp(snapshot):%Y-%m-%d %H:%M} UTC; each prefix shows its newest.",
    )
    unpriced = tiers[~tiers["priced"]]
    if not unpriced.empty:
        st.caption(
            "No price known for "
            + ", ".join(f"{r.provider} {r.storage_class}" for r in unpriced.itertuples())
            + ": those bytes are counted at 0 in the monthly cost."
        )
    _tiers(tiers)
    _candidates(url, code)
    _prefixes(inventory)


with components.page_guard("Storage"):
    render()
