"""Settings come from spendwatch.toml and SPENDWATCH_<SECTION>__<KEY>, environment first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spendwatch.config import ConfigError, load_settings
from tests.cli_run import isolate_settings


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path)


def test_defaults_use_the_embedded_sqlite_warehouse() -> None:
    settings = load_settings()
    assert settings.database.url == "sqlite:///./spendwatch.db"
    assert settings.tags.team == "team"
    assert settings.analytics.idle_gpu.window_hours == 24


def test_toml_file_then_environment_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "spendwatch.toml").write_text(
        '[database]\nurl = "sqlite:///from-file.db"\n'
        '[slack]\ndefault_channel = "#costs"\nchannels = { nlp = "#nlp-costs" }\n'
        "[analytics.idle_gpu]\nwindow_hours = 48\n"
    )
    assert load_settings().database.url == "sqlite:///from-file.db"
    assert load_settings().slack.channels == {"nlp": "#nlp-costs"}
    assert load_settings().analytics.idle_gpu.window_hours == 48
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("SPENDWATCH_SLACK__CHANNELS", '{"cv": "#cv"}')
    settings = load_settings()
    assert settings.database.url == "postgresql+psycopg://u@h/db"
    # Tables merge key by key across sources (pydantic-settings' deep update); README says so.
    assert settings.slack.channels == {"nlp": "#nlp-costs", "cv": "#cv"}
    assert settings.slack.default_channel == "#costs"


def test_secrets_do_not_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDWATCH_SLACK__BOT_TOKEN", "xoxb-very-secret")
    settings = load_settings()
    assert "xoxb-very-secret" not in repr(settings)
    assert "xoxb-very-secret" not in str(settings.model_dump())
    assert settings.slack.bot_token.get_secret_value() == "xoxb-very-secret"


def test_bad_value_gives_one_line_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDWATCH_ANALYTICS__IDLE_GPU__WINDOW_HOURS", "a day")
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert "analytics.idle_gpu.window_hours" in message
    assert "SPENDWATCH_ANALYTICS__IDLE_GPU__WINDOW_HOURS" in message
    assert "\n" not in message


def test_missing_config_file_named_by_env_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDWATCH_CONFIG", "/nonexistent/spendwatch.toml")
    with pytest.raises(ConfigError, match=re.escape("/nonexistent/spendwatch.toml")):
        load_settings()
