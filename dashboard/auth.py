"""Who may see the dashboard.

* Bound to loopback (the default, 127.0.0.1): no login; only people on the machine reach it.
* Bound to any other address: ``spendwatch dashboard`` refuses to start unless
  ``[dashboard] auth`` is one of

  - ``"oidc"``: Streamlit's own OpenID Connect login (``st.login``), configured in the
    ``[auth]`` table of ``.streamlit/secrets.toml`` (``redirect_uri``, ``cookie_secret``,
    ``client_id``, ``client_secret``, ``server_metadata_url``); needs Authlib;
  - ``"proxy-header"``: a trusted reverse proxy authenticates people and names the user in
    ``proxy_header`` (default ``X-Forwarded-Email``); only ``allowed_users`` get in. The
    dashboard must then be reachable only through that proxy, or anyone could send the header.

:func:`bind_refusal` is the start-up check (CLI); :func:`gate` is the per-session check each
page view passes first (the app), which also catches a ``streamlit run`` started by hand.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spendwatch.config import DashboardSettings

OIDC_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def secrets_auth_section(files: Sequence[Path]) -> dict[str, Any]:
    """The ``[auth]`` table Streamlit would see: later files override earlier ones."""
    merged: dict[str, Any] = {}
    for path in files:
        if path.is_file():
            with path.open("rb") as handle:
                merged |= tomllib.load(handle).get("auth") or {}
    return merged


def bind_refusal(
    address: str, settings: DashboardSettings, *, secrets_files: Sequence[Path]
) -> str | None:
    """None when serving on ``address`` is allowed; otherwise one line saying what to set."""
    mode = settings.auth
    if mode == "none":
        if is_loopback(address):
            return None
        return (
            f"refusing to serve the dashboard on {address} without authentication; set "
            '[dashboard] auth = "proxy-header" (with allowed_users) or "oidc", '
            "or bind 127.0.0.1"
        )
    if mode == "proxy-header":
        if not settings.proxy_header.strip():
            return '[dashboard] auth = "proxy-header" needs proxy_header (e.g. X-Forwarded-Email)'
        if not [user for user in settings.allowed_users if user.strip()]:
            return (
                '[dashboard] auth = "proxy-header" needs allowed_users = ["you@example.com", ...]'
            )
        return None
    section = secrets_auth_section(secrets_files)
    provider = next((value for value in section.values() if isinstance(value, dict)), None)
    missing = [
        key for key in OIDC_KEYS if not section.get(key) and not (provider and provider.get(key))
    ]
    if missing:
        where = ", ".join(str(path) for path in secrets_files)
        return (
            f'[dashboard] auth = "oidc" needs {", ".join(missing)} in the [auth] table of '
            f".streamlit/secrets.toml (looked in {where})"
        )
    if importlib.util.find_spec("authlib") is None:
        return '[dashboard] auth = "oidc" needs Authlib: pip install "streamlit[auth]"'
    return None


def proxy_user(headers: Mapping[str, str], settings: DashboardSettings) -> str | None:
    """The allowed user the proxy header names, or None (missing header or not allowed)."""
    value = (headers.get(settings.proxy_header) or "").strip()
    allowed = {user.strip().lower() for user in settings.allowed_users if user.strip()}
    return value if value and value.lower() in allowed else None


def gate(settings: DashboardSettings) -> str | None:
    """Run before any page: stops the script with an "access denied" page unless allowed.

    Returns the signed-in user's name, or None where no login is needed (loopback).
    """
    import streamlit as st

    if settings.auth == "proxy-header":
        user = proxy_user(st.context.headers, settings)
        if user is None:
            _denied(
                f"the dashboard only admits the users its proxy names in {settings.proxy_header}"
            )
        return user
    if settings.auth == "oidc":
        if not st.user.is_logged_in:
            st.title("spendwatch")
            st.info("Sign in to see the dashboard.")
            st.button("Log in", on_click=st.login, icon=":material/login:")
            st.stop()
        email = str(st.user.get("email") or "")
        allowed = {user.strip().lower() for user in settings.allowed_users if user.strip()}
        if allowed and email.lower() not in allowed:
            _denied(f"{email or 'this account'} is not in [dashboard] allowed_users")
        st.sidebar.button("Log out", on_click=st.logout, icon=":material/logout:")
        return email or None
    address = str(st.get_option("server.address") or "")
    if address and not is_loopback(address):
        _denied(
            f"this server listens on {address} with no authentication configured; "
            "set [dashboard] auth, or bind 127.0.0.1"
        )
    return None


def _denied(reason: str) -> None:
    import streamlit as st

    st.title("Access denied")
    st.error(f"Access denied: {reason}.")
    st.stop()
