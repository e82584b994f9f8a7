"""GPU-hours bought vs used in a month, from hourly GPU telemetry.

Every ``gpu_hourly`` row is one GPU for one hour that someone paid for, so the row count is the
GPU-hours bought; the sum of hourly average utilization / 100 is the GPU-hours that did work.
Hosts that send no telemetry are not here (they are ``unmonitored_gpu`` findings instead).
Utilization is a ratio of work, not money, so floats are right here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy.engine import Connection

from warehouse.queries.gpu import gpu_inventory
from warehouse.queries.gpu_fleet import gpu_host_days
from warehouse.queries.report import gpu_hours_by_host

NOT_IN_INVENTORY = "(not in inventory)"


@dataclasses.dataclass(frozen=True, slots=True)
class GpuLine:
    key: str
    hosts: int
    gpu_hours: int
    used_hours: float

    @property
    def utilization_percent(self) -> float:
        return 100.0 * self.used_hours / self.gpu_hours if self.gpu_hours else 0.0

    @property
    def idle_hours(self) -> float:
        return self.gpu_hours - self.used_hours


@dataclasses.dataclass(frozen=True, slots=True)
class GpuFleet:
    total: GpuLine
    by_model: tuple[GpuLine, ...]
    by_team: tuple[GpuLine, ...]
    daily: tuple[tuple[dt.date, int, float], ...]  # (day, GPU-hours bought, GPU-hours used)
    hours_without_utilization: int  # bought, but no utilization value (MIG): not counted used
    first_hour: dt.date | None
    last_hour: dt.date | None


def gpu_fleet(connection: Connection, *, start: dt.datetime, end: dt.datetime) -> GpuFleet:
    """The fleet's GPU-hours in ``[start, end)`` (whole UTC days), by model, team and day."""
    hosts = gpu_hours_by_host(connection, start=start, end=end)
    inventory = gpu_inventory(connection)
    teams: dict[str, str] = {
        str(row["resource_id"]): str(row["team"]) if row["team"] else "(untagged)"
        for row in inventory.to_dict("records")
    }
    days = gpu_host_days(connection, start=start.date(), end=(end - dt.timedelta(days=1)).date())
    daily: dict[dt.date, list[float]] = defaultdict(lambda: [0, 0.0])
    for row in days:
        daily[row["day"]][0] += row["gpu_hours"]
        daily[row["day"]][1] += row["util_sum"] / 100.0
    return GpuFleet(
        total=_line("all", hosts),
        by_model=_grouped(hosts, lambda row: row["gpu_model"] or "(unknown model)"),
        by_team=_grouped(hosts, lambda row: teams.get(str(row["resource_id"]), NOT_IN_INVENTORY)),
        daily=tuple((day, int(bought), used) for day, (bought, used) in sorted(daily.items())),
        hours_without_utilization=sum(row["gpu_hours"] - row["util_hours"] for row in hosts),
        first_hour=min(daily, default=None),
        last_hour=max(daily, default=None),
    )


def _line(key: str, rows: list[dict[str, Any]]) -> GpuLine:
    return GpuLine(
        key=key,
        hosts=len({row["resource_id"] for row in rows}),
        gpu_hours=sum(row["gpu_hours"] for row in rows),
        used_hours=sum(row["util_sum"] for row in rows) / 100.0,
    )


def _grouped(rows: list[dict[str, Any]], key: Any) -> tuple[GpuLine, ...]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    lines = [_line(name, members) for name, members in groups.items()]
    lines.sort(key=lambda line: (-line.gpu_hours, line.key))
    return tuple(lines)
