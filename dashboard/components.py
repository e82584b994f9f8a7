"""Pieces every page shares: the global filters (kept in the URL), money formatting, chart
styling, the "connect a source" panel and the guard that turns errors into one friendly line."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import streamlit as st
from babel.numbers import format_currency, get_currency_symbol
from sqlalchemy.exc import SQLAlchemyError
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from dashboard import data

ALL_PROVIDERS = "All providers"
DEFAULT_RANGE_DAYS = 30
# FOCUS ProviderName -> the short code that inventory and GPU telemetry use.
PROVIDER_CODES = {"AWS": "aws", "Google Cloud": "gcp", "Microsoft": "azure"}

CONNECT_COMMANDS = """\
# try everything on generated data first
spendwatch demo

# or load your own billing and telemetry
spendwatch ingest focus path/to/focus-export.csv   # FOCUS CSV, CSV.gz or Parquet; s3:// works
spendwatch collect                                 # the sources configured in spendwatch.toml
spendwatch analyze                                 # refresh findings
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Filters:
    start: dt.date
    end: dt.date
    provider: str | None  # FOCUS ProviderName; None = all
    currency: str | None

    @property
    def provider_code(self) -> str | None:
        if self.provider is None:
            return None
        return PROVIDER_CODES.get(self.provider, self.provider.lower())


def _parse_day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None  # a hand-edited link: fall back to the default range


def global_filters(window: dict[str, Any]) -> Filters:
    """Date range, provider and (when mixed) currency in the sidebar, mirrored in the URL.

    Every page draws these with the same keys. Streamlit forgets a widget's state when a page
    switch stops drawing it, so the chosen values are also kept under a plain session key and
    restored from there; a fresh session starts from the query string, so a copied link
    reproduces the view.
    """
    first, last = window["first_day"], window["last_day"]
    state, params = st.session_state, st.query_params
    saved: dict[str, Any] = state.get("_saved_filters") or {}
    providers = [ALL_PROVIDERS, *window["providers"]]
    currencies = window["currencies"] or ["USD"]
    if "filter_dates" not in state:
        end = _parse_day(params.get("end")) or last
        end = min(max(end, first), last)
        default_start = max(first, end - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1))
        start = min(max(_parse_day(params.get("start")) or default_start, first), end)
        state["filter_dates"] = saved.get("dates") or (start, end)
    if "filter_provider" not in state:
        wanted = saved.get("provider") or params.get("provider")
        state["filter_provider"] = wanted if wanted in providers else ALL_PROVIDERS
    if "filter_currency" not in state:
        wanted = saved.get("currency") or params.get("currency")
        state["filter_currency"] = wanted if wanted in currencies else currencies[0]

    with st.sidebar:
        picked = st.date_input(
            "Dates (UTC)", key="filter_dates", min_value=first, max_value=last, format="YYYY-MM-DD"
        )
        provider = st.selectbox("Provider", providers, key="filter_provider")
        currency = currencies[0]
        if len(currencies) > 1:
            currency = st.selectbox("Billing currency", currencies, key="filter_currency")

    # While a range is half picked the widget returns one date; use it as both ends.
    days = tuple(picked) if isinstance(picked, list | tuple) else (picked,)
    start = days[0] if days else first
    end = days[1] if len(days) > 1 else start
    state["_saved_filters"] = {"dates": (start, end), "provider": provider, "currency": currency}
    chosen = Filters(
        start=start,
        end=end,
        provider=None if provider == ALL_PROVIDERS else provider,
        currency=currency,
    )
    url_state = {"start": start.isoformat(), "end": end.isoformat()}
    if chosen.provider:
        url_state["provider"] = chosen.provider
    if len(currencies) > 1:
        url_state["currency"] = currency
    for key in ("start", "end", "provider", "currency"):
        if key not in url_state and key in params:
            del params[key]
    params.update(url_state)
    return chosen


def page_setup() -> tuple[dict[str, Any] | None, Filters | None]:
    """What every page calls first: the data window and the sidebar filters (None when empty)."""
    window = data.window(data.database_url())
    filters = global_filters(window) if window is not None else None
    st.sidebar.caption(f"Warehouse: {data.safe_database_url()}")
    return window, filters


def connect_source_panel(what: str) -> None:
    st.info(f"No {what} in the warehouse yet. Connect a source, then refresh this page.")
    st.code(CONNECT_COMMANDS, language="bash")
    st.caption(f"Warehouse: {data.safe_database_url()}")


@contextlib.contextmanager
def page_guard(page: str) -> Iterator[None]:
    """Show one line and what to do instead of a traceback."""
    try:
        yield
    except ScriptControlException:
        raise  # st.rerun / st.stop are control flow, not errors
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
        st.error(
            f"{page}: cannot read the warehouse at {data.safe_database_url()} ({reason}). "
            "Check SPENDWATCH_DATABASE__URL, then run `spendwatch db upgrade`."
        )
    except Exception as exc:
        message = " ".join(str(exc).split())[:300] or type(exc).__name__
        st.error(f"{page}: {message}")


def money(value: Decimal, currency: str | None, *, cents: bool = True) -> str:
    if not cents:
        value = value.quantize(Decimal(1))
    return format_currency(
        value, currency or "USD", locale="en_US", format=None if cents else "¤#,##0"
    )


def money_axis(figure: Any, currency: str | None, *, axis: str = "y") -> Any:
    """Currency symbol on the tick labels and the currency code in the axis title."""
    code = currency or "USD"
    settings = {
        "tickprefix": get_currency_symbol(code, locale="en_US"),
        "tickformat": ",.0f",
        "title": {"text": f"Billed cost ({code})"},
    }
    figure.update_layout(**{f"{axis}axis": settings})
    return figure


def style(figure: Any, *, height: int = 360) -> Any:
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "title": None},
    )
    return figure
