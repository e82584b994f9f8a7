"""What one FOCUS delivery left in ``cost_line_items``, recorded on its collector run.

``warehouse.queries`` replays these records to answer Data health's billing loads without
grouping every line item.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa


class BillingGroups:
    """Per (provider, account, billing period) of one delivery: rows and first/last charge.

    ``by_charge`` (day-window deliveries) also counts rows per charge start, so a later window
    that replaces some of those days can be replayed exactly.
    """

    _KEYS = ("provider_name", "billing_account_id", "billing_period_start", "billing_period_end")

    def __init__(self) -> None:
        self._groups: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(self, batch: pa.RecordBatch, *, by_charge: bool) -> None:
        names = batch.schema.names
        columns = {
            key: batch.column(names.index(key))
            if key in names
            else pa.nulls(batch.num_rows, pa.string())
            for key in (*self._KEYS, "charge_period_start")
        }
        keys = [*self._KEYS, "charge_period_start"] if by_charge else list(self._KEYS)
        table = (
            pa.table(columns)
            .group_by(keys)
            .aggregate(
                [
                    ([], "count_all"),
                    ("charge_period_start", "min"),
                    ("charge_period_start", "max"),
                ]
            )
        )
        for row in table.to_pylist():
            key = tuple(_iso(row[name]) for name in self._KEYS)
            group = self._groups.setdefault(
                key, {"rows": 0, "first_charge": None, "last_charge": None, "by_charge": {}}
            )
            group["rows"] += row["count_all"]
            first, last = _iso(row["charge_period_start_min"]), _iso(row["charge_period_start_max"])
            if first is not None and (
                group["first_charge"] is None or first < group["first_charge"]
            ):
                group["first_charge"] = first
            if last is not None and (group["last_charge"] is None or last > group["last_charge"]):
                group["last_charge"] = last
            if by_charge:
                charge = _iso(row["charge_period_start"])
                group["by_charge"][charge] = group["by_charge"].get(charge, 0) + row["count_all"]

    def recorded(self) -> list[dict[str, Any]]:
        """JSON-ready: timestamps as ISO text (all UTC, so they also sort as text)."""
        out = []
        for key, group in sorted(self._groups.items(), key=lambda item: repr(item[0])):
            entry = dict(zip(self._KEYS, key, strict=True))
            entry.update(rows=group["rows"], first_charge=group["first_charge"])
            entry["last_charge"] = group["last_charge"]
            if group["by_charge"]:
                entry["by_charge"] = sorted(group["by_charge"].items(), key=lambda p: p[0] or "")
            out.append(entry)
        return out


def _iso(value: Any) -> Any:
    """Fixed-width UTC text, so text order is time order."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return value
