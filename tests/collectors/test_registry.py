"""The collector registry: names, configuration, and the error for an unknown name."""

from __future__ import annotations

import datetime as dt

import pytest

from collectors.base import Collector
from collectors.prometheus_gpu import PrometheusGpuCollector
from collectors.registry import build_collector, collector_names, configured_names
from spendwatch.config import Settings
from warehouse.errors import InputError


def settings(**prometheus: object) -> Settings:
    return Settings.model_validate({"database": {"url": "sqlite://"}, "prometheus": prometheus})


def test_unknown_name_lists_the_valid_names() -> None:
    with pytest.raises(InputError) as failure:
        build_collector("prometheus-gpu", settings(url="http://prom:9090"))
    assert str(failure.value) == (
        f"unknown collector 'prometheus-gpu'; valid names: {', '.join(collector_names())}"
    )
    assert "prometheus" in collector_names()


def test_unconfigured_source_says_how_to_configure_it() -> None:
    assert "prometheus" not in configured_names(settings())
    with pytest.raises(InputError, match="SPENDWATCH_PROMETHEUS__URL"):
        build_collector("prometheus", settings())


def test_prometheus_is_built_from_its_settings_section() -> None:
    config = settings(
        url="http://prom:9090",
        resource_label="node",
        chunk_hours=6,
        lookback_hours=3,
        initial_hours=48,
    )
    assert "prometheus" in configured_names(config)
    collector = build_collector("prometheus", config)
    assert isinstance(collector, PrometheusGpuCollector)
    typed: Collector = collector  # mypy checks that it satisfies the protocol
    assert typed.lookback == dt.timedelta(hours=3)
    assert (collector.name, collector.loads) == ("prometheus", "gpu_hourly")
    assert collector.natural_key == ("source", "resource_id", "gpu_id", "hour")
    # The configured label first, then the Hostname fallback, then the scrape target.
    assert collector.resource_labels == ("node", "Hostname", "instance")
    assert collector.chunk_hours == 6
    assert collector.lookback == dt.timedelta(hours=3)
    assert collector.initial_window == dt.timedelta(hours=48)


def test_a_label_that_could_inject_promql_is_refused() -> None:
    with pytest.raises(InputError, match="is not a Prometheus label name"):
        build_collector("prometheus", settings(url="http://prom:9090", resource_label='x"}) or up'))
