"""Cached loaders: every read the pages make goes through here, keyed by the database URL.

Results are cached for ``dashboard.cache_ttl_seconds`` (settings) so a page switch does not
re-query; a finding action clears :func:`findings` so the change shows at once. Money stays
``Decimal`` in these frames; pages convert to float only to draw charts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from spendwatch.config import Settings
from warehouse import findings_store
from warehouse.db import make_engine, safe_url
from warehouse.queries import billing_loads as billing_load_queries
from warehouse.queries import findings as finding_queries
from warehouse.queries import gpu_fleet as gpu_queries
from warehouse.queries import health as health_queries
from warehouse.queries import spend_rollup as spend_queries
from warehouse.queries import storage as storage_queries


def settings() -> Settings:
    return Settings()


def _ttl() -> int:
    try:
        return settings().dashboard.cache_ttl_seconds
    except Exception:  # bad settings are reported by the page guard, not at import time
        return 300


TTL = _ttl()


def database_url() -> str:
    return settings().database.url


def safe_database_url() -> str:
    try:
        return safe_url(database_url())
    except Exception:
        return "(settings unreadable)"


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    return make_engine(url)


@st.cache_data(ttl=TTL, show_spinner=False)
def window(url: str) -> dict[str, Any] | None:
    """The days and providers there is data for (billing or GPU telemetry); None when empty."""
    with engine(url).connect() as connection:
        spend = spend_queries.spend_window(connection)
        gpu = gpu_queries.gpu_window(connection)
    if spend is None and gpu is None:
        return None
    days = [d for d in (spend and (spend["first_day"], spend["last_day"]), gpu) if d]
    return {
        "first_day": min(first for first, _ in days),
        "last_day": max(last for _, last in days),
        "providers": spend["providers"] if spend else [],
        "currencies": spend["currencies"] if spend else [],
        "has_billing": spend is not None,
        "has_gpu": gpu is not None,
    }


@st.cache_data(ttl=TTL, show_spinner=False)
def spend_rollup(url: str, *, start: dt.date, end: dt.date, team_tag: str) -> list[dict[str, Any]]:
    """Daily cost rows (see ``daily_cost_rollup``); every spend figure is cut from these."""
    with engine(url).connect() as connection:
        return spend_queries.daily_cost_rollup(connection, start=start, end=end, team_tag=team_tag)


@st.cache_data(ttl=TTL, show_spinner=False)
def gpu_host_days(url: str, *, start: dt.date, end: dt.date, provider: str | None) -> pd.DataFrame:
    with engine(url).connect() as connection:
        rows = gpu_queries.gpu_host_days(connection, start=start, end=end, provider=provider)
        inventory = {row["resource_id"]: row for row in gpu_queries.gpu_resources(connection)}
    frame = pd.DataFrame(
        rows,
        columns=["resource_id", "provider", "day", "gpu_hours", "util_sum", "util_samples"],
    )
    frame["host"] = [
        (inventory.get(rid) or {}).get("name") or _short(rid) for rid in frame["resource_id"]
    ]
    for column, missing in (("instance_type", ""), ("gpu_model", "(unknown)"), ("team", "(none)")):
        frame[column] = [
            (inventory.get(rid) or {}).get(column) or missing for rid in frame["resource_id"]
        ]
    return frame


def _short(resource_id: str) -> str:
    return resource_id.rsplit("/", 1)[-1]


@st.cache_data(ttl=TTL, show_spinner=False)
def findings(
    url: str,
    *,
    kinds: Sequence[str] = (),
    statuses: Sequence[str] = (),
    owners: Sequence[str] = (),
) -> list[dict[str, Any]]:
    with engine(url).connect() as connection:
        return finding_queries.finding_rows(
            connection, kinds=tuple(kinds), statuses=tuple(statuses), owners=tuple(owners)
        )


@st.cache_data(ttl=TTL, show_spinner=False)
def finding_facets(url: str) -> dict[str, list[str]]:
    with engine(url).connect() as connection:
        return finding_queries.finding_facets(connection)


@st.cache_data(ttl=TTL, show_spinner=False)
def collector_health(url: str) -> list[dict[str, Any]]:
    with engine(url).connect() as connection:
        return health_queries.latest_collector_runs(connection)


@st.cache_data(ttl=TTL, show_spinner=False)
def gpu_series(url: str, *, resource_id: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    with engine(url).connect() as connection:
        rows = gpu_queries.gpu_hourly_series(
            connection, resource_id=resource_id, start=start, end=end
        )
    columns = ["hour", "gpus", "util_avg", "util_max", "mem_used_max_bytes"]
    return pd.DataFrame(rows, columns=columns)


@st.cache_data(ttl=TTL, show_spinner=False)
def storage(url: str, *, as_of: dt.datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The newest inventory of every prefix and the storage prices in force at ``as_of``."""
    with engine(url).connect() as connection:
        return (
            storage_queries.latest_storage_inventory(connection),
            storage_queries.storage_prices(connection, as_of=as_of),
        )


@st.cache_data(ttl=TTL, show_spinner=False)
def savings_totals(url: str) -> list[dict[str, Any]]:
    return findings_store.savings_totals(engine(url), statuses=("open",))


@st.cache_data(ttl=TTL, show_spinner=False)
def realized_savings(url: str) -> list[dict[str, Any]]:
    with engine(url).connect() as connection:
        return finding_queries.realized_savings(connection)


@st.cache_data(ttl=TTL, show_spinner=False)
def billing_loads(url: str) -> tuple[list[dict[str, Any]], dict[str, dt.datetime]]:
    with engine(url).connect() as connection:
        loads = billing_load_queries.billing_loads(connection)
        return loads, billing_load_queries.load_finish_times(connection)


@st.cache_data(ttl=TTL, show_spinner=False)
def price_snapshots(url: str) -> list[dict[str, Any]]:
    with engine(url).connect() as connection:
        return health_queries.price_snapshots(connection)


@st.cache_data(ttl=TTL, show_spinner=False)
def failed_notifications(url: str) -> list[dict[str, Any]]:
    with engine(url).connect() as connection:
        return health_queries.failed_notifications(connection)


def forget_findings() -> None:
    """After a finding action: the next read must see the database, not the cache."""
    findings.clear()
    finding_facets.clear()
    savings_totals.clear()
