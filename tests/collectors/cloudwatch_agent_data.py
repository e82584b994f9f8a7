"""moto in server mode, and CloudWatch data shaped the way the CloudWatch agent publishes it.

The agent's ``nvidia_gpu`` section publishes ``nvidia_smi_<field>`` in namespace ``CWAgent``
with dimensions ``index``, ``name`` and ``host`` (plus ``InstanceId`` when
``append_dimensions`` asks for it), no Unit, utilization in percent and memory in MiB.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import boto3

NAMESPACE = "CWAgent"


def cloudwatch_client() -> Any:
    """The ordinary boto3 client, pointed at moto by the environment ``aws_env`` set up."""
    return boto3.client("cloudwatch", region_name="us-east-1")


@dataclasses.dataclass(frozen=True)
class MinuteSample:
    """One nvidia-smi reading, in nvidia-smi's units."""

    at: dt.datetime
    util_percent: int | None  # None: MIG, the field is not published at all
    mem_used_mib: int
    mem_total_mib: int
    power_watts: float | None


def agent_dimensions(
    *, index: str, name: str, host: str, instance_id: str | None = None
) -> list[dict[str, str]]:
    dims = {"index": index, "name": name, "host": host}
    if instance_id:
        dims["InstanceId"] = instance_id
    return [{"Name": key, "Value": value} for key, value in dims.items()]


def publish(cloudwatch: Any, dimensions: list[dict[str, str]], samples: list[MinuteSample]) -> int:
    """put_metric_data the way the agent would; returns how many data points were sent."""
    data: list[dict[str, Any]] = []
    for sample in samples:
        fields = {
            "nvidia_smi_utilization_gpu": sample.util_percent,
            "nvidia_smi_memory_used": sample.mem_used_mib,
            "nvidia_smi_memory_total": sample.mem_total_mib,
            "nvidia_smi_power_draw": sample.power_watts,
        }
        for metric, value in fields.items():
            if value is None:
                continue  # nvidia-smi said [N/A]: the agent publishes nothing
            data.append(
                {
                    "MetricName": metric,
                    "Dimensions": dimensions,
                    "Timestamp": sample.at,
                    "Value": float(value),
                }
            )
    for start in range(0, len(data), 1000):  # PutMetricData takes up to 1000 points
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start : start + 1000])
    return len(data)
