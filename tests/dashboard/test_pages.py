"""Every dashboard page through Streamlit's AppTest, on an empty warehouse and on a small
demo-like one (``conftest.py``: four hosts, two days, prices known), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import APP
from warehouse.db import make_engine
from warehouse.schema import findings

PAGES = [
    "pages/overview.py",
    "pages/gpu_fleet.py",
    "pages/storage.py",
    "pages/savings.py",
    "pages/findings.py",
    "pages/data_health.py",
]
OVERVIEW, GPU, STORAGE, SAVINGS, FINDINGS, HEALTH = PAGES
# Per hour, the four hosts: 21.957642 + 0.706832255 + 88.4899999025753 + 0.526
HOURLY = (
    Decimal("21.957642") + Decimal("0.706832255") + Decimal("88.4899999025753") + Decimal("0.526")
)


def open_page(page: str, *, query: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params.update(query or {})
    app.run()
    if page != OVERVIEW:
        app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def test_empty_warehouse_shows_how_to_connect_a_source_on_every_page(empty_url: str) -> None:
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    for page in PAGES:
        app.switch_page(page).run()
        assert not app.exception, (page, [e.value for e in app.exception])
        assert not app.error, (page, [e.value for e in app.error])
        assert any("No " in info.value and "yet" in info.value for info in app.info), page
        assert any("spendwatch ingest focus" in code.value for code in app.code), page


def test_overview_shows_month_to_date_forecast_charts_and_top_services(
    demo_like_url: str,
) -> None:
    app = open_page(OVERVIEW)
    assert not app.error
    # 48 hours x HOURLY = 5360.6627547636144; September 2024 is the month to date, and it is
    # over, so the month-end forecast is what was spent.
    shown = metrics(app)
    assert shown["Month to date"] == "$5,360.66"
    assert shown["Month-end forecast"] == "$5,360.66"
    assert shown["Selected range"] == "$5,360.66"
    assert shown["Daily average"] == "$2,680.33"
    assert len(app.get("plotly_chart")) == 3  # by provider, by service, by team
    services = app.dataframe[0].value
    assert services["service"].iloc[0] == "Compute Engine"  # the two GCP hosts: 4281.45
    # No spend before 2024-09-29: every service moved up from nothing.
    movers = app.dataframe[1].value
    assert movers["service"].iloc[0] == "Compute Engine"
    assert movers["change"].iloc[0] == (Decimal("0.706832255") + Decimal("88.4899999025753")) * 48
    assert movers["previous"].iloc[0] == 0
    assert set(movers["change_pct"]) == {"new"}  # no percentage of nothing
    anomalies = app.dataframe[2].value
    assert list(anomalies["day"]) == ["2024-09-30"]
    assert list(anomalies["robust_z"]) == [8.5]


def test_forecast_mid_month_follows_the_trailing_week(demo_like_url: str) -> None:
    app = open_page(OVERVIEW, query={"start": "2024-09-29", "end": "2024-09-29"})
    shown = metrics(app)
    assert shown["Month to date"] == "$2,680.33"  # 24 x HOURLY
    # Per provider: day 29 + its 7-day mean (only day 29 has spend) x 1 day left, in cents:
    # AWS 526.983408 + 75.283344 = 602.27; Google 2140.72397178 + 305.81771025 = 2446.54;
    # Microsoft 12.624 + 1.80342857 = 14.43; together 3063.24.
    assert shown["Month-end forecast"] == "$3,063.24"


def test_forecast_window_follows_the_analysis_setting(
    demo_like_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPENDWATCH_ANALYTICS__SPEND_ANOMALY__FORECAST_TRAILING_DAYS", "1")
    app = open_page(OVERVIEW, query={"start": "2024-09-29", "end": "2024-09-29"})
    # A 1-day window: day 29 again for the one day left, per provider in cents: AWS 2 x
    # 526.983408 = 1053.97; Google 2 x 2140.72397178 = 4281.45; Microsoft 2 x 12.624 = 25.25.
    assert metrics(app)["Month-end forecast"] == "$5,360.67"


def test_movers_compare_with_the_previous_period_of_the_same_length(demo_like_url: str) -> None:
    app = open_page(OVERVIEW, query={"start": "2024-09-30", "end": "2024-09-30"})
    # Every host billed the same on 29 and 30 September: nothing moved.
    assert any("No service cost moved" in info.value for info in app.info)


def test_provider_and_dates_filters_change_the_total_and_the_link(demo_like_url: str) -> None:
    app = open_page(OVERVIEW)
    app.sidebar.selectbox[0].select("AWS").run()
    assert metrics(app)["Selected range"] == "$1,053.97"  # 21.957642 x 48 = 1053.966816
    app.sidebar.date_input[0].set_value((dt.date(2024, 9, 30), dt.date(2024, 9, 30))).run()
    assert metrics(app)["Selected range"] == "$526.98"  # 21.957642 x 24 = 526.983408
    assert app.query_params == {"start": "2024-09-30", "end": "2024-09-30", "provider": "AWS"}
    app.sidebar.selectbox[0].select("Google Cloud").run()
    assert any("No open spend anomalies" in s.value for s in app.success)  # the spike is AWS


def test_a_link_with_filters_reproduces_the_view(demo_like_url: str) -> None:
    app = open_page(
        OVERVIEW, query={"provider": "Google Cloud", "start": "2024-09-30", "end": "2024-09-30"}
    )
    # (0.706832255 + 88.4899999025753) x 24 = 2140.7239717818072
    assert metrics(app)["Selected range"] == "$2,140.72"


def test_gpu_page_counts_gpu_hours_and_lists_idle_gpus(demo_like_url: str) -> None:
    app = open_page(GPU)
    assert not app.error
    shown = metrics(app)
    assert shown["GPU-hours bought"] == "864"  # (8 + 1 + 8 + 1) GPUs x 48 h
    assert shown["Hosts"] == "4"
    # heatmap, bought vs used, utilization per model, utilization per team
    assert len(app.get("plotly_chart")) == 4
    idle = app.dataframe[0].value
    assert list(idle["owner"]) == ["alice@example.com"]
    assert str(idle["monthly_savings"][0]) == "16029.07"
    assert str(idle["cost_so_far"][0]) == "1053.97"

    app.sidebar.selectbox[0].select("AWS").run()
    shown = metrics(app)
    assert shown["GPU-hours bought"] == "384"  # the idle p4d: 8 GPUs x 48 h
    assert shown["GPU-hours used"] == "0"
    assert shown["Fleet utilization"] == "0.0%"


def test_storage_page_prices_each_class_and_marks_lifecycle_prefixes(demo_like_url: str) -> None:
    app = open_page(STORAGE)
    assert not app.error
    shown = metrics(app)
    # 100 GiB STANDARD x 0.023 = 2.30; 1024 GiB GLACIER_IR x 0.004 = 4.096 -> 4.10
    assert shown["Monthly cost"] == "$6.40"
    assert shown["Stored"] == "1.10 TiB"  # (100 + 1024) / 1024
    assert shown["Prefixes"] == "2"
    tiers = app.dataframe[0].value
    assert dict(zip(tiers["storage_class"], tiers["cost"], strict=True)) == {
        "GLACIER_IR": Decimal("4.10"),
        "STANDARD": Decimal("2.30"),
    }
    candidates = app.dataframe[1].value
    assert list(candidates["location"]) == ["s3://acme-ml-data/datasets/"]
    assert list(candidates["move"]) == ["STANDARD → STANDARD_IA"]
    prefixes = app.dataframe[2].value
    managed = dict(zip(prefixes["location"], prefixes["lifecycle_managed"], strict=True))
    assert managed == {"acme-ml-data/archive/": True, "acme-ml-data/datasets/": False}

    app.sidebar.selectbox[0].select("Google Cloud").run()
    assert any("No storage inventory for Google Cloud" in i.value for i in app.info)


def test_savings_page_counts_each_instance_once_and_shows_realized(demo_like_url: str) -> None:
    app = open_page(SAVINGS)
    assert not app.error
    shown = metrics(app)
    assert shown["Open recommendations"] == "5"
    # idle 16029.07 + rightsizing 48448.27 + cold 1.05; the spot finding on the idle host
    # (9000) and the anomaly (0) add nothing.
    assert shown["Potential saving / month"] == "$64,478.39"
    assert shown["Realized saving / month"] == "$250.00"
    table = app.dataframe[0].value
    counted = dict(zip(table["kind"], table["counted"], strict=True))
    assert counted["spot_candidate"] == 0
    assert counted["idle_gpu"] == Decimal("16029.07")
    assert len(app.get("plotly_chart")) == 3  # by kind, by owner, realized by month


def test_findings_filters_and_csv_export(demo_like_url: str) -> None:
    app = open_page(FINDINGS)
    assert not app.error
    shown = metrics(app)
    assert shown["Findings"] == "5"  # open only by default
    assert shown["Total saving / month"] == "$64,478.39"  # the spot finding counts 0
    app.multiselect(key="findings_status").set_value(["open", "dismissed"]).run()
    assert metrics(app)["Findings"] == "6"
    app.multiselect(key="findings_owner").set_value(["chen@example.com"]).run()
    assert metrics(app)["Findings"] == "1"
    assert len(app.get("download_button")) == 1
    assert [c.value for c in app.main.caption if "Dismissed" in c.value] == [
        "Dismissed: nightly batch."
    ], [c.value for c in app.caption]


def test_an_idle_finding_charts_its_hourly_utilization(demo_like_url: str) -> None:
    app = open_page(FINDINGS)
    app.main.selectbox[0].select(1).run()  # the idle p4d
    assert not app.exception and not app.error
    assert len(app.get("plotly_chart")) == 1
    # The window (30 Sep) widened to 12 h before the idle streak began (29 Sep 00:00).
    assert any("2024-09-28 12:00 to 2024-10-01 00:00 UTC" in m.value for m in app.main.markdown), [
        m.value for m in app.main.markdown
    ]


def test_snooze_from_the_findings_page_writes_the_database(demo_like_url: str) -> None:
    app = open_page(FINDINGS)
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
    assert metrics(app)["Findings"] == "4"  # the page re-read: the rightsizing is not open
    assert any("snooze saved" in success.value for success in app.success)


def test_data_health_shows_sources_billing_prices_and_failed_messages(demo_like_url: str) -> None:
    app = open_page(HEALTH)
    shown = metrics(app)
    assert shown["Sources"] == "2"
    assert shown["Failing now"] == "1"
    assert shown["Failed Slack messages"] == "1"
    assert [e.value for e in app.error] == [
        "prometheus: prometheus at http://prom:9090: connection refused"
    ]
    runs, billing, prices, failed = (frame.value for frame in app.dataframe)
    assert list(runs["source"]) == ["focus_files", "prometheus"]
    assert list(runs["rows"]) == [192, 0]
    # Every account billed through 30 September; its delivery finished on 1 October, less
    # than 5 days after September ended, so September is still an estimate.
    assert set(billing["last_charge_day"]) == {dt.date(2024, 9, 30)}
    assert set(billing["latest_period"]) == {"2024-09"}
    assert set(billing["latest_period_status"]) == {"estimated"}
    assert len(billing) == 3  # one account per provider
    # Today is long after September 2024: all three feeds are late (default: over 3 days).
    assert set(billing["feed"]) == {"late"}
    assert shown["Late billing feeds"] == "3"
    assert any("over 3 days behind" in w.value for w in app.warning)
    assert dict(zip(prices["source"], prices["prices"], strict=True)) == {
        "snapshot-aws-2026-07-20": 5,
        "illustrative-azure": 2,
        "snapshot-gcp-2026-07-30": 3,
    }
    assert list(failed["channel"]) == ["#nlp-costs"]
    assert list(failed["last_error"]) == ["channel_not_found: #nlp-costs does not exist"]
    assert failed["finding"].iloc[0] == "#1 idle_gpu i-0aaa"
    assert any("given up on" in w.value for w in app.warning)


def test_a_broken_database_url_is_one_line_not_a_traceback(
    dashboard_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    app = open_page(OVERVIEW)
    assert not app.exception
    assert "cannot read the warehouse" in app.error[0].value
    assert "\n" not in app.error[0].value
