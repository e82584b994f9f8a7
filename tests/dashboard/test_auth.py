"""Who may open the dashboard: loopback needs no login; any other address needs [dashboard] auth
(OIDC through st.login, or a trusted proxy header with an allow-list). The allow-list over a
real HTTP request is in tests/e2e/test_dashboard_browser.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.auth import bind_refusal, proxy_user
from spendwatch.cli import run
from spendwatch.config import DashboardSettings
from tests.dashboard.conftest import APP

PROXY = DashboardSettings(auth="proxy-header", allowed_users=["Alice@Example.com"])
OIDC_SECRETS = """\
[auth]
redirect_uri = "https://spend.example.com/oauth2callback"
cookie_secret = "a-long-random-secret-for-the-test-only"
client_id = "spendwatch"
client_secret = "not-a-real-secret"
server_metadata_url = "https://accounts.google.com/.well-known/openid-configuration"
"""


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_login(address: str) -> None:
    assert bind_refusal(address, DashboardSettings(), secrets_files=[]) is None


@pytest.mark.parametrize("address", ["0.0.0.0", "10.1.2.3", "::", "dashboard.internal"])
def test_any_other_address_without_auth_is_refused(address: str) -> None:
    refusal = bind_refusal(address, DashboardSettings(), secrets_files=[])
    assert refusal is not None and address in refusal and "[dashboard] auth" in refusal


def test_proxy_header_needs_an_allow_list() -> None:
    empty = DashboardSettings(auth="proxy-header")
    assert "allowed_users" in str(bind_refusal("0.0.0.0", empty, secrets_files=[]))
    assert bind_refusal("0.0.0.0", PROXY, secrets_files=[]) is None


def test_oidc_needs_every_auth_key_in_secrets_toml(tmp_path: Path) -> None:
    settings = DashboardSettings(auth="oidc")
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    refusal = bind_refusal("0.0.0.0", settings, secrets_files=[secrets])
    assert refusal is not None
    assert "redirect_uri, cookie_secret, client_id, client_secret, server_metadata_url" in refusal
    secrets.parent.mkdir()
    secrets.write_text(OIDC_SECRETS.replace('client_secret = "not-a-real-secret"\n', ""))
    assert "needs client_secret in the [auth] table" in str(
        bind_refusal("0.0.0.0", settings, secrets_files=[secrets])
    )
    secrets.write_text(OIDC_SECRETS)
    refusal = bind_refusal("0.0.0.0", settings, secrets_files=[secrets])
    if importlib.util.find_spec("authlib") is None:
        assert refusal is not None and "Authlib" in refusal
    else:
        assert refusal is None


def test_named_provider_tables_count_for_oidc(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    shared, provider = OIDC_SECRETS.split('client_id = "spendwatch"\n')
    secrets.write_text(shared + '\n[auth.google]\nclient_id = "spendwatch"\n' + provider)
    refusal = bind_refusal("0.0.0.0", DashboardSettings(auth="oidc"), secrets_files=[secrets])
    assert refusal is None or "Authlib" in refusal  # every key found


def test_the_proxy_header_admits_only_allowed_users() -> None:
    assert proxy_user({"X-Forwarded-Email": "alice@example.com"}, PROXY) == "alice@example.com"
    assert proxy_user({"X-Forwarded-Email": "mallory@example.com"}, PROXY) is None
    assert proxy_user({}, PROXY) is None


def test_the_cli_refuses_a_public_address_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no spendwatch.toml or .streamlit/secrets.toml here
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", f"sqlite:///{tmp_path / 'never.db'}")
    with pytest.raises(SystemExit) as done:
        run(["dashboard", "--address", "0.0.0.0", "--port", "1"])
    err = capsys.readouterr().err
    assert done.value.code == 1
    assert err.count("\n") == 1 and "refusing to serve the dashboard on 0.0.0.0" in err
    assert not (tmp_path / "never.db").exists()  # refused before touching the database


def test_without_an_allowed_user_only_access_denied_shows(
    demo_like_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPENDWATCH_DASHBOARD__AUTH", "proxy-header")
    monkeypatch.setenv("SPENDWATCH_DASHBOARD__ALLOWED_USERS", '["alice@example.com"]')
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()  # AppTest sends no headers: like a request that bypassed the proxy
    assert not app.exception
    assert [t.value for t in app.title] == ["Access denied"]
    assert "X-Forwarded-Email" in app.error[0].value
    assert not app.metric  # nothing from the warehouse
