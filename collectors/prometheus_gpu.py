"""GPU telemetry from Prometheus (dcgm-exporter, nvidia_gpu_exporter) into ``gpu_hourly``.

Prometheus does the rollup: every query is a ``query_range`` with ``step=1h`` over a
``*_over_time(...[1h])`` expression, so only one number per GPU, hour and column crosses the
wire, never raw samples.

Which hour a point belongs to. A ``query_range`` point evaluated at time T with ``[1h]`` covers
(T-1h, T] (Prometheus 3; [T-1h, T] in 2.x). We evaluate at T = H + 1h - 1ms, so the point
covers exactly [H, H+1h) at Prometheus' millisecond resolution, and we store ``hour = H``,
the START of the hour the samples fall in. A sample stamped 02:00:00.000 therefore belongs to
the 02:00 hour, the same half-open convention every SQL query in the warehouse uses.

Power is the mean of the power gauge. A GPU that exports no gauge but an energy counter
(``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION``, mJ since the driver loaded) gets the hour's energy
from ``increase(...[1h])`` divided by 3600 s. ``increase`` adds back the value lost at a counter
reset (a driver reload starts the counter again near 0), where last - first would go negative;
the one scrape interval spanning the reset is lost. It also extrapolates to the window edges:
with samples from H to the last scrape before H+1h the window is covered, so the figure is the
hour's mean power. For an hour a GPU was only partly reporting, the gauge gives the mean while
it reported but the counter gives the energy spread over the whole hour (a GPU gone at half
past reads about half), because PromQL offers no first-sample time to divide by instead.

Each series is keyed inside PromQL by ``label_replace``: the resource is the first non-empty
of the configured resource label, the fallback label and ``instance``; the GPU is ``UUID``
else ``gpu`` (plus ``GPU_I_ID`` for a MIG slice). Series lacking either are skipped and counted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.engine import Engine

from collectors.base import CollectResult, floor_hour
from collectors.dcgm_metrics import EXPORTERS, K8S_LABELS, ExporterMetrics
from collectors.prometheus_http import MAX_POINTS_PER_SERIES, PrometheusClient, Series
from warehouse.errors import InputError, SourceError
from warehouse.load_gpu import NATURAL_KEY, load_gpu_hourly

if TYPE_CHECKING:
    from spendwatch.config import Settings

log = logging.getLogger(__name__)

HOUR = 3600
RESOURCE = "spendwatch_resource"
GPU = "spendwatch_gpu"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Key = tuple[str, str, int]  # (resource_id, gpu_id, hour as unix seconds)


@dataclasses.dataclass
class _Counts:
    """Sample counts of one (GPU, hour) for one metric, split by scrape job and label set."""

    by_job: dict[str, float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    by_labels: dict[tuple[tuple[str, str], ...], float] = dataclasses.field(
        default_factory=lambda: defaultdict(float)
    )

    @property
    def samples(self) -> int:
        # Two scrape jobs reading the same exporter see the same samples: take one job, not
        # the sum. Within a job, series that change labels (a new pod) are added up.
        return int(max(self.by_job.values(), default=0))

    @property
    def dominant_labels(self) -> dict[str, str]:
        labels, _ = max(self.by_labels.items(), key=lambda item: item[1])
        return dict(labels)


class PrometheusGpuCollector:
    name = "prometheus"
    loads = "gpu_hourly"
    natural_key = NATURAL_KEY

    def __init__(
        self,
        url: str,
        *,
        resource_labels: tuple[str, ...] = ("instance_id", "Hostname"),
        timeout_seconds: float = 30.0,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        chunk_hours: int = 24,
        lookback: dt.timedelta = dt.timedelta(hours=2),
        initial_window: dt.timedelta = dt.timedelta(hours=24),
        exporters: tuple[ExporterMetrics, ...] = EXPORTERS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        labels = tuple(dict.fromkeys((*resource_labels, "instance")))
        for label in labels:
            if not _LABEL_NAME.match(label):
                raise InputError(
                    f"prometheus.resource_label {label!r} is not a Prometheus label name; "
                    "use letters, digits and underscores"
                )
        if not 1 <= chunk_hours < MAX_POINTS_PER_SERIES:
            raise InputError(
                f"prometheus.chunk_hours={chunk_hours}; use 1..{MAX_POINTS_PER_SERIES - 1}"
            )
        self.url = url
        self.resource_labels = labels
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.chunk_hours = chunk_hours
        self.lookback = lookback
        self.initial_window = initial_window
        self.exporters = exporters
        self.transport = transport

    @classmethod
    def from_settings(cls, settings: Settings) -> PrometheusGpuCollector:
        config = settings.prometheus
        return cls(
            config.url,
            resource_labels=(config.resource_label, config.fallback_label),
            timeout_seconds=config.timeout_seconds,
            retries=config.retries,
            backoff_seconds=config.retry_backoff_seconds,
            chunk_hours=config.chunk_hours,
            lookback=dt.timedelta(hours=config.lookback_hours),
            initial_window=dt.timedelta(hours=config.initial_hours),
        )

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        """Load every complete hour in ``[since, until)``; the watermark is the last hour's end."""
        first = int(floor_hour(since).timestamp())
        end = int(floor_hour(until).timestamp())  # an hour still running is not loaded
        skipped: set[tuple[str, str]] = set()
        written = 0
        with PrometheusClient(
            self.url,
            timeout_seconds=self.timeout_seconds,
            retries=self.retries,
            backoff_seconds=self.backoff_seconds,
            transport=self.transport,
        ) as client:
            for chunk_start in range(first, end, self.chunk_hours * HOUR):
                hours = min(self.chunk_hours, (end - chunk_start) // HOUR)
                start = chunk_start + HOUR - 0.001  # see the module docstring: covers [H, H+1h)
                end_point = start + (hours - 1) * HOUR
                # One query at a time: on a 2-core box, 4 concurrent queries measured slower
                # (Prometheus already spreads one evaluation over its cores).
                answers = [
                    (
                        exporter,
                        {
                            name: client.query_range(query, start=start, end=end_point, step=HOUR)
                            for name, query in self._queries(exporter).items()
                        },
                    )
                    for exporter in self.exporters
                ]
                rows = []
                for exporter, series in answers:
                    rows += _rollup(exporter, series, skipped)
                try:
                    with engine.begin() as connection:  # each chunk lands whole or not at all
                        written += load_gpu_hourly(connection, rows)
                except InputError as exc:
                    raise SourceError(f"prometheus at {client.shown_url}: {exc}") from None
            queries = client.queries
        if skipped:
            log.warning("prometheus: skipped %d series with no resource or GPU label", len(skipped))
        watermark = dt.datetime.fromtimestamp(end, dt.UTC) if end > first else None
        details = {
            "queries": queries,
            "skipped_series": len(skipped),
            "hours": (end - first) // HOUR,
        }
        return CollectResult(rows=written, watermark=watermark, details=details)

    # -- PromQL ---------------------------------------------------------------------------

    def _keyed(self, expr: str, exporter: ExporterMetrics) -> str:
        # Lowest priority first: label_replace with "(.+)" leaves a series alone when the
        # source label is empty, so the last non-empty one applied (the highest) wins.
        for label in reversed(self.resource_labels):
            expr = f'label_replace({expr}, "{RESOURCE}", "$1", "{label}", "(.+)")'
        for label in reversed(exporter.gpu_labels):
            expr = f'label_replace({expr}, "{GPU}", "$1", "{label}", "(.+)")'
        return expr

    @staticmethod
    def _by(exporter: ExporterMetrics, *extra: str) -> str:
        mig = (exporter.mig_instance_label,) if exporter.mig_instance_label else ()
        return ", ".join((RESOURCE, GPU, *mig, *extra))

    def _avg(self, metric: str, exporter: ExporterMetrics) -> str:
        # sum/count across every series of the GPU, not avg_over_time per series: when the pod
        # labels change mid-hour the GPU has two series, and the hour's mean weighs both.
        by = self._by(exporter)
        total = self._keyed(f"sum_over_time({metric}[1h])", exporter)
        count = self._keyed(f"count_over_time({metric}[1h])", exporter)
        return f"sum by ({by}) ({total}) / sum by ({by}) ({count})"

    def _max(self, metric: str, exporter: ExporterMetrics) -> str:
        peak = self._keyed(f"max_over_time({metric}[1h])", exporter)
        return f"max by ({self._by(exporter)}) ({peak})"

    def _power(self, exporter: ExporterMetrics) -> str | None:
        gauge = self._avg(exporter.power, exporter) if exporter.power else None
        if not exporter.energy:
            return gauge
        # Series of one GPU within a scrape job are added up (a new pod splits the series
        # mid-hour); two jobs scraping one exporter see the same joules, so the larger is kept.
        by = self._by(exporter)
        increase = self._keyed(f"increase({exporter.energy}[1h])", exporter)
        joules = f"max by ({by}) (sum by ({by}, job) ({increase})) * {exporter.energy_to_joules!r}"
        watts = f"{joules} / {HOUR}"
        # `or` keeps the counter only for label sets (GPUs) the gauge has no value for.
        return f"({gauge}) or ({watts})" if gauge else watts

    def _counts(self, metric: str, exporter: ExporterMetrics) -> str:
        by = self._by(exporter, "job", *exporter.detail_labels)
        return f"sum by ({by}) ({self._keyed(f'count_over_time({metric}[1h])', exporter)})"

    def _mem_total(self, exporter: ExporterMetrics) -> str | None:
        if exporter.mem_total:
            return self._max(exporter.mem_total, exporter)
        if not exporter.mem_free:
            return None
        # used + free of the same scrape is the framebuffer size; both gauges come together.
        last = f"last_over_time({exporter.mem_used}[1h]) + last_over_time({exporter.mem_free}[1h])"
        return f"max by ({self._by(exporter)}) ({self._keyed(last, exporter)})"

    def _queries(self, exporter: ExporterMetrics) -> dict[str, str]:
        """Name -> PromQL for one exporter; ``count:<column>`` names the sample counts."""
        queries = {
            f"count:{column}": self._counts(metric, exporter) for column, metric in exporter.counted
        }
        candidates = {
            "util_avg": exporter.util and self._avg(exporter.util, exporter),
            "util_max": exporter.util and self._max(exporter.util, exporter),
            "engine_avg": exporter.engine_active and self._avg(exporter.engine_active, exporter),
            "engine_max": exporter.engine_active and self._max(exporter.engine_active, exporter),
            "mem_avg": self._avg(exporter.mem_used, exporter),
            "mem_max": self._max(exporter.mem_used, exporter),
            "mem_total": self._mem_total(exporter),
            "power_avg": self._power(exporter),
        }
        if exporter.info_metric and exporter.info_model_label:
            info = self._keyed(f"last_over_time({exporter.info_metric}[1h])", exporter)
            by = self._by(exporter, exporter.info_model_label)
            candidates["info"] = f"max by ({by}) ({info})"
        queries.update({name: query for name, query in candidates.items() if query})
        return queries


# -- rollup -----------------------------------------------------------------------------------


def _rollup(
    exporter: ExporterMetrics, answers: dict[str, list[Series]], skipped: set[tuple[str, str]]
) -> list[dict[str, Any]]:
    """gpu_hourly rows for one exporter from the answers to :meth:`_queries`."""
    counts: dict[str, dict[Key, _Counts]] = {}
    for column, _metric in exporter.counted:
        per_key: dict[Key, _Counts] = defaultdict(_Counts)
        for key, value, labels in _points(answers[f"count:{column}"], exporter, skipped):
            entry = per_key[key]
            entry.by_job[labels.get("job", "")] += value or 0.0
            detail = tuple(
                (name, labels[name]) for name in exporter.detail_labels if labels.get(name)
            )
            entry.by_labels[detail] += value or 0.0
        counts[column] = per_key
    values = {
        name: {key: (value, labels) for key, value, labels in _points(series, exporter, skipped)}
        for name, series in answers.items()
        if not name.startswith("count:")
    }
    return _rows(exporter, counts, values)


def _points(
    series: list[Series], exporter: ExporterMetrics, skipped: set[tuple[str, str]]
) -> Iterator[tuple[Key, float | None, dict[str, str]]]:
    for item in series:
        resource, gpu = item.labels.get(RESOURCE), item.labels.get(GPU)
        if not resource or not gpu:
            skipped.add((resource or "", gpu or ""))  # one per identity, not per query
            continue
        instance = item.labels.get(exporter.mig_instance_label or "")
        gpu_id = f"{gpu}/{instance}" if instance else gpu  # one GPU's MIG slices stay apart
        for timestamp, value in item.points:
            hour = round(timestamp + 0.001) - HOUR  # the point closes [hour, hour + 1h)
            yield (resource, gpu_id, hour), value, item.labels


def _rows(
    exporter: ExporterMetrics,
    counts: dict[str, dict[Key, _Counts]],
    values: dict[str, dict[Key, tuple[float | None, dict[str, str]]]],
) -> list[dict[str, Any]]:
    def value(name: str, key: Key, scale: float = 1.0) -> float | None:
        found = values.get(name, {}).get(key)
        return None if found is None or found[0] is None else found[0] * scale

    def nbytes(name: str, key: Key) -> int | None:
        scaled = value(name, key, exporter.mem_to_bytes)
        return None if scaled is None else round(scaled)

    keys = sorted({key for per_key in counts.values() for key in per_key})
    rows = []
    for key in keys:
        # sample_count comes from the first counted metric the GPU has: utilization, else
        # engine-active (MIG reports no utilization), else memory.
        entry = next(counts[c][key] for c, _ in exporter.counted if key in counts[c])
        if entry.samples <= 0:
            continue
        labels = entry.dominant_labels
        model = labels.get(exporter.model_label or "")
        info = values.get("info", {}).get(key)
        if info is not None and exporter.info_model_label:
            model = info[1].get(exporter.info_model_label) or model
        k8s = {name: labels[name] for name in K8S_LABELS if name in labels}
        resource, gpu_id, hour = key
        rows.append(
            {
                "source": exporter.source,
                "resource_id": resource,
                "gpu_id": gpu_id,
                "hour": dt.datetime.fromtimestamp(hour, dt.UTC),
                "gpu_model": model or None,
                "mig_profile": labels.get(exporter.mig_profile_label or "") or None,
                "util_avg": value("util_avg", key, exporter.util_to_percent),
                "util_max": value("util_max", key, exporter.util_to_percent),
                "engine_active_avg": value("engine_avg", key, 100.0),
                "engine_active_max": value("engine_max", key, 100.0),
                "mem_used_avg_bytes": nbytes("mem_avg", key),
                "mem_used_max_bytes": nbytes("mem_max", key),
                "mem_total_bytes": nbytes("mem_total", key),
                "power_avg_watts": value("power_avg", key),
                "sample_count": entry.samples,
                "labels": k8s or None,
            }
        )
    return rows
