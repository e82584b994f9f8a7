"""Every dashboard page through Streamlit's AppTest, on an empty warehouse and on a small
demo-like one (``conftest.py``: four hosts, two days, prices known), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import APP
from warehouse.db import make_engine
from warehouse.schema import findings

PAGES = ["pages/overview.py", "pages/gpu_fleet.py", "pages/findings.py", "pages/data_health.py"]


def open_page(page: str, *, query: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params.update(query or {})
    app.run()
    if page != PAGES[0]:
        app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


@pytest.mark.parametrize("page", PAGES)
def test_empty_warehouse_shows_how_to_connect_a_source(empty_url: str, page: str) -> None:
    app = open_page(page)
    assert not app.error
    assert any("No " in info.value and "yet" in info.value for info in app.info)
    assert any("spendwatch ingest focus" in code.value for code in app.code)


def test_overview_shows_month_to_date_charts_and_top_services(demo_like_url: str) -> None:
    app = open_page(PAGES[0])
    assert not app.error
    # 48 hours of: 21.957642 + 0.706832255 + 88.4899999025753 + 0.526 = 111.6804740575753 / h
    # = 5360.6627547636144; September 2024 is the month to date.
    shown = metrics(app)
    assert shown["Month to date"] == "$5,360.66"
    assert shown["Selected range"] == "$5,360.66"
    assert shown["Daily average"] == "$2,680.33"
    assert len(app.get("plotly_chart")) == 3  # by provider, by service, by team
    services = app.dataframe[0].value
    assert services["service"].iloc[0] == "Compute Engine"  # the two GCP hosts: 4281.45


def test_provider_and_dates_filters_change_the_total_and_the_link(demo_like_url: str) -> None:
    app = open_page(PAGES[0])
    app.sidebar.selectbox[0].select("AWS").run()
    assert metrics(app)["Selected range"] == "$1,053.97"  # 21.957642 x 48 = 1053.966816
    app.sidebar.date_input[0].set_value((dt.date(2024, 9, 30), dt.date(2024, 9, 30))).run()
    assert metrics(app)["Selected range"] == "$526.98"  # 21.957642 x 24 = 526.983408
    assert app.query_params == {"start": "2024-09-30", "end": "2024-09-30", "provider": "AWS"}


def test_a_link_with_filters_reproduces_the_view(demo_like_url: str) -> None:
    app = open_page(
        PAGES[0], query={"provider": "Google Cloud", "start": "2024-09-30", "end": "2024-09-30"}
    )
    # (0.706832255 + 88.4899999025753) x 24 = 2140.7239717818072
    assert metrics(app)["Selected range"] == "$2,140.72"


def test_gpu_page_counts_gpu_hours_and_lists_idle_gpus(demo_like_url: str) -> None:
    app = open_page(PAGES[1])
    assert not app.error
    shown = metrics(app)
    assert shown["GPU-hours bought"] == "864"  # (8 + 1 + 8 + 1) GPUs x 48 h
    assert shown["Hosts"] == "4"
    assert len(app.get("plotly_chart")) == 2  # heatmap, bought vs used
    idle = app.dataframe[0].value
    assert list(idle["owner"]) == ["alice@example.com"]
    assert str(idle["monthly_savings"][0]) == "16029.07"

    app.sidebar.selectbox[0].select("AWS").run()
    shown = metrics(app)
    assert shown["GPU-hours bought"] == "384"  # the idle p4d: 8 GPUs x 48 h
    assert shown["GPU-hours used"] == "0"
    assert shown["Fleet utilization"] == "0.0%"


def test_findings_filters_and_csv_export(demo_like_url: str) -> None:
    app = open_page(PAGES[2])
    assert not app.error
    shown = metrics(app)
    assert shown["Findings"] == "2"  # open only by default
    assert shown["Total saving / month"] == "$64,477.34"  # 16029.07 + 48448.27
    app.multiselect(key="findings_status").set_value(["open", "dismissed"]).run()
    assert metrics(app)["Findings"] == "3"
    app.multiselect(key="findings_owner").set_value(["chen@example.com"]).run()
    assert metrics(app)["Findings"] == "1"
    assert len(app.get("download_button")) == 1
    assert [c.value for c in app.main.caption if "Dismissed" in c.value] == [
        "Dismissed: nightly batch."
    ], [c.value for c in app.caption]


def test_snooze_from_the_findings_page_writes_the_database(demo_like_url: str) -> None:
    app = open_page(PAGES[2])
    # The largest saving is shown first: the rightsizing finding on research-a3-02.
    assert app.main.selectbox[0].value == 2
    until = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=10)
    app.main.date_input[0].set_value(until)
    app.main.button[0].click().run()  # the form's "Snooze" submit button
    assert not app.exception and not app.error
    engine = make_engine(demo_like_url)
    with engine.connect() as connection:
        row = connection.execute(sa.select(findings).where(findings.c.id == 2)).one()
    engine.dispose()
    assert row.status == "snoozed"
    assert row.snoozed_until == dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC)
    assert metrics(app)["Findings"] == "1"  # the page re-read: only the idle finding is open
    assert any("snooze saved" in success.value for success in app.success)


def test_data_health_shows_each_source_and_the_failure(demo_like_url: str) -> None:
    app = open_page(PAGES[3])
    shown = metrics(app)
    assert shown["Sources"] == "2"
    assert shown["Failing now"] == "1"
    assert [e.value for e in app.error] == [
        "prometheus: prometheus at http://prom:9090: connection refused"
    ]
    table = app.dataframe[0].value
    assert list(table["source"]) == ["focus_files", "prometheus"]
    assert list(table["rows"]) == [192, 0]


def test_a_broken_database_url_is_one_line_not_a_traceback(
    dashboard_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    app = open_page(PAGES[0])
    assert not app.exception
    assert "cannot read the warehouse" in app.error[0].value
    assert "\n" not in app.error[0].value
