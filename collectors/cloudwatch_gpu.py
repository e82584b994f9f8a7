"""GPU metrics the CloudWatch agent publishes (``nvidia_gpu`` section) into ``gpu_hourly``.

The agent runs nvidia-smi every collection interval (60 s by default) and publishes, in namespace
``CWAgent``, ``nvidia_smi_utilization_gpu`` (percent), ``nvidia_smi_memory_used`` and
``nvidia_smi_memory_total`` (MiB: nvidia-smi's unit, which AWS's table calls "MB") and
``nvidia_smi_power_draw`` (W), with dimensions ``index``, ``name`` and ``host``, plus
``InstanceId`` (and others) when ``append_dimensions`` asks for them.

CloudWatch does the rollup: ``GetMetricData`` with ``Period=3600`` returns one Average, Maximum
and SampleCount per series and hour, stamped with the hour's START, the same ``hour`` the other
GPU paths store. A shorter configured period is combined into hours exactly (SampleCount-
weighted averages). Series are found with ``ListMetrics`` and queried with their exact
dimension set, because CloudWatch matches dimensions exactly. Up to 500 queries go in one call,
the API's limit, and ``NextToken`` pages are followed.

The resource is ``InstanceId`` when present, else ``host``; the GPU is ``index`` (the agent
does not publish the UUID). Series without ``index`` (``aggregation_dimensions`` roll-ups) are
skipped and counted. Under MIG nvidia-smi reports no utilization, so that series is absent and
the row has NULL utilization with ``sample_count`` taken from memory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import Engine

from collectors.base import CollectResult, floor_hour
from warehouse.errors import InputError, SourceError
from warehouse.load_gpu import NATURAL_KEY, load_gpu_hourly

if TYPE_CHECKING:
    from spendwatch.config import Settings

log = logging.getLogger(__name__)

SOURCE = "cloudwatch"
MIB = 1024 * 1024
HOUR = 3600
MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit

# metric name -> (column prefix, statistics read). SampleCount comes with every averaged metric
# so sub-hour periods can be weighted; utilization's count is the row's sample_count.
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "nvidia_smi_utilization_gpu": ("util", ("Average", "Maximum", "SampleCount")),
    "nvidia_smi_memory_used": ("mem", ("Average", "Maximum", "SampleCount")),
    "nvidia_smi_memory_total": ("mem_total", ("Maximum",)),
    "nvidia_smi_power_draw": ("power", ("Average", "SampleCount")),
}

GpuKey = tuple[str, str]  # (resource_id, index)


@dataclasses.dataclass
class _Series:
    dimensions: list[dict[str, str]]
    model: str | None
    provider: str | None


def discover_series(
    cloudwatch: Any, *, namespace: str
) -> tuple[dict[GpuKey, dict[str, _Series]], int]:
    """GPU -> metric -> the series' exact dimensions; and how many series were skipped."""
    found: dict[GpuKey, dict[str, _Series]] = defaultdict(dict)
    skipped = 0
    paginator = cloudwatch.get_paginator("list_metrics")
    for metric_name in METRICS:
        for page in paginator.paginate(Namespace=namespace, MetricName=metric_name):
            for metric in page.get("Metrics", []):
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                resource = dims.get("InstanceId") or dims.get("host")
                index = dims.get("index")
                if not resource or index is None:
                    skipped += 1
                    continue
                key = (resource, index)
                known = found[key].get(metric_name)
                if known is not None and len(known.dimensions) >= len(dims):
                    continue  # same GPU published twice (changed dimensions): keep the fuller
                found[key][metric_name] = _Series(
                    dimensions=list(metric["Dimensions"]),
                    model=dims.get("name"),
                    provider="aws" if "InstanceId" in dims else None,
                )
    return dict(found), skipped


def _queries(
    series: dict[GpuKey, dict[str, _Series]], *, namespace: str, period: int
) -> tuple[list[dict[str, Any]], dict[str, tuple[GpuKey, str, str]]]:
    queries: list[dict[str, Any]] = []
    meaning: dict[str, tuple[GpuKey, str, str]] = {}
    for key in sorted(series):
        for metric_name, one in sorted(series[key].items()):
            for stat in METRICS[metric_name][1]:
                query_id = f"q{len(queries)}"
                meaning[query_id] = (key, METRICS[metric_name][0], stat)
                queries.append(
                    {
                        "Id": query_id,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": namespace,
                                "MetricName": metric_name,
                                "Dimensions": one.dimensions,
                            },
                            "Period": period,
                            "Stat": stat,
                        },
                        "ReturnData": True,
                    }
                )
    return queries, meaning


def fetch_points(
    cloudwatch: Any,
    queries: list[dict[str, Any]],
    *,
    start: dt.datetime,
    end: dt.datetime,
) -> tuple[dict[str, list[tuple[dt.datetime, float]]], int]:
    """Query id -> (period start, value) points; and the number of GetMetricData calls."""
    points: dict[str, list[tuple[dt.datetime, float]]] = defaultdict(list)
    calls = 0
    for first in range(0, len(queries), MAX_QUERIES_PER_CALL):
        batch = queries[first : first + MAX_QUERIES_PER_CALL]
        token: str | None = None
        while True:
            request: dict[str, Any] = {
                "MetricDataQueries": batch,
                "StartTime": start,
                "EndTime": end,
                "ScanBy": "TimestampAscending",
            }
            if token:
                request["NextToken"] = token
            answer = cloudwatch.get_metric_data(**request)
            calls += 1
            for result in answer.get("MetricDataResults", []):
                stamps = result.get("Timestamps", [])
                points[result["Id"]] += zip(stamps, result.get("Values", []), strict=True)
            token = answer.get("NextToken")
            if not token:
                break
    return points, calls


@dataclasses.dataclass
class _Stats:
    average: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # (avg, n)
    maximum: list[float] = dataclasses.field(default_factory=list)
    count: float = 0.0

    def mean(self) -> float | None:
        if not self.average:
            return None
        if len(self.average) == 1:
            return self.average[0][0]  # one period per hour: CloudWatch's own average, untouched
        weight = sum(n for _, n in self.average)
        return sum(avg * n for avg, n in self.average) / weight if weight else None


def rollup(
    series: dict[GpuKey, dict[str, _Series]],
    meaning: dict[str, tuple[GpuKey, str, str]],
    points: dict[str, list[tuple[dt.datetime, float]]],
) -> list[dict[str, Any]]:
    """gpu_hourly rows from the answers; sub-hour periods are combined into their hour."""
    stats: dict[tuple[GpuKey, dt.datetime], dict[str, _Stats]] = defaultdict(
        lambda: defaultdict(_Stats)
    )
    # Counts first: an average is weighted by its own period's SampleCount.
    counts: dict[tuple[GpuKey, str, dt.datetime], float] = {}
    for query_id, (key, column, stat) in meaning.items():
        if stat == "SampleCount":
            for stamp, value in points.get(query_id, []):
                counts[(key, column, stamp)] = value
                stats[(key, floor_hour(stamp))][column].count += value
    for query_id, (key, column, stat) in meaning.items():
        for stamp, value in points.get(query_id, []):
            entry = stats[(key, floor_hour(stamp))][column]
            if stat == "Average":
                entry.average.append((value, counts.get((key, column, stamp), 1.0)))
            elif stat == "Maximum":
                entry.maximum.append(value)
    rows = []
    for (key, hour), by_column in sorted(stats.items()):
        util, mem = by_column.get("util"), by_column.get("mem")
        total, power = by_column.get("mem_total"), by_column.get("power")
        count = int((util.count if util else 0) or (mem.count if mem else 0))
        if count <= 0:
            continue
        info = next(iter(series[key].values()))

        def nbytes(mib: float | None) -> int | None:
            return None if mib is None else round(mib * MIB)

        rows.append(
            {
                "source": SOURCE,
                "provider": info.provider,
                "resource_id": key[0],
                "gpu_id": key[1],
                "hour": hour,
                "gpu_model": info.model,
                "util_avg": util.mean() if util else None,
                "util_max": max(util.maximum) if util and util.maximum else None,
                "mem_used_avg_bytes": nbytes(mem.mean()) if mem else None,
                "mem_used_max_bytes": nbytes(max(mem.maximum)) if mem and mem.maximum else None,
                "mem_total_bytes": nbytes(max(total.maximum)) if total and total.maximum else None,
                "power_avg_watts": power.mean() if power else None,
                "sample_count": count,
            }
        )
    return rows


class CloudWatchGpuCollector:
    name = SOURCE
    loads = "gpu_hourly"
    natural_key = NATURAL_KEY

    def __init__(
        self,
        cloudwatch: Any,
        *,
        namespace: str = "CWAgent",
        region: str = "",
        period_seconds: int = HOUR,
        lookback: dt.timedelta = dt.timedelta(hours=2),
        initial_window: dt.timedelta = dt.timedelta(hours=24),
    ) -> None:
        if period_seconds < 60 or period_seconds % 60 or HOUR % period_seconds:
            raise InputError(
                f"cloudwatch.period_seconds={period_seconds}; use 3600 or a divisor of it "
                "that is a multiple of 60 (60, 300, 600, 900, 1200, 1800)"
            )
        self.cloudwatch = cloudwatch
        self.namespace = namespace
        self.region = region
        self.period_seconds = period_seconds
        self.lookback = lookback
        self.initial_window = initial_window

    @classmethod
    def from_settings(cls, settings: Settings) -> CloudWatchGpuCollector:
        import boto3  # boto3's default credential chain; AWS_ENDPOINT_URL is honoured

        config = settings.cloudwatch
        region = config.region.strip() or settings.aws.region
        return cls(
            boto3.client("cloudwatch", region_name=region),
            namespace=config.namespace,
            region=region,
            period_seconds=config.period_seconds,
            lookback=dt.timedelta(hours=config.lookback_hours),
            initial_window=dt.timedelta(hours=config.initial_hours),
        )

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        """Load every complete hour in ``[since, until)``; the watermark is the last hour's end."""
        start, end = floor_hour(since), floor_hour(until)  # a running hour is not loaded
        if end <= start:
            return CollectResult(rows=0, watermark=None, details={"hours": 0})
        try:
            series, skipped = discover_series(self.cloudwatch, namespace=self.namespace)
            queries, meaning = _queries(
                series, namespace=self.namespace, period=self.period_seconds
            )
            points, calls = fetch_points(self.cloudwatch, queries, start=start, end=end)
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(
                f"{SOURCE} ({self.region or 'default region'}, namespace {self.namespace}): "
                f"{' '.join(str(exc).split())}; check the AWS credentials, the region and "
                "AWS_ENDPOINT_URL"
            ) from None
        rows = rollup(series, meaning, points)
        with engine.begin() as connection:  # the whole window lands, or none of it
            written = load_gpu_hourly(connection, rows)
        if skipped:
            log.warning("cloudwatch: skipped %d series without index/host dimensions", skipped)
        details = {
            "gpus": len(series),
            "queries": len(queries),
            "get_metric_data_calls": calls,
            "skipped_series": skipped,
            "hours": int((end - start).total_seconds()) // HOUR,
        }
        return CollectResult(rows=written, watermark=end, details=details)
