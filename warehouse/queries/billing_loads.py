"""Which billing deliveries the warehouse holds: per provider, billing account, billing period
and load, the last charge day and the line items, replayed from the collector runs that recorded
them; and when each delivery finished."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.schema import collector_runs, cost_line_items


def billing_loads(connection: Connection) -> list[dict[str, Any]]:
    """Per provider, billing account, billing period and delivery (load): the last charge day.

    A restated period replaces its rows, so one (account, period) normally holds one load; Cost
    Explorer's day windows can leave several.

    Answered by replaying the deliveries recorded in ``collector_runs`` (``warehouse.load``
    records what each left behind), which reads a few rows instead of every line item. When
    the runs cannot account for every line item (loads from before that was recorded, rows
    written by other means), the line items are grouped instead; both give the same rows.
    """
    replayed = _replay_billing_loads(connection)
    return replayed if replayed is not None else _scan_billing_loads(connection)


def _scan_billing_loads(connection: Connection) -> list[dict[str, Any]]:
    column = cost_line_items.c
    keys = (
        column.provider_name,
        column.billing_account_id,
        column.billing_period_start,
        column.billing_period_end,
        column.x_load_id,
        column.x_source,
    )
    query = sa.select(
        *keys,
        sa.func.max(column.charge_period_start).label("last_charge"),
        sa.func.count().label("line_items"),
    ).group_by(*keys)
    return [dict(row._mapping) for row in connection.execute(query)]


# (load id, provider, account, period start, period end) -> what that load holds of the group
_Held = dict[tuple[Any, ...], dict[str, Any]]


def _replay_billing_loads(connection: Connection) -> list[dict[str, Any]] | None:
    """The line items' groups as the recorded deliveries left them; None if not exact."""
    column = collector_runs.c
    query = (
        sa.select(column.source, column.details)
        .where(column.status == "succeeded", column.details.is_not(None))
        .order_by(column.id)  # inserted last in each load's transaction: commit order
    )
    held: _Held = {}
    for run in connection.execute(query):
        details = run.details if isinstance(run.details, dict) else {}
        if "load_id" not in details:
            continue  # not a billing delivery
        if "billing_groups" not in details or not _replay_run(held, run.source, details):
            return None
    recorded_rows = sum(group["rows"] for group in held.values())
    # Rows no recorded run accounts for (an older load, a raw writer) make the replay inexact.
    if not recorded_rows:  # one row is enough to know, without counting them all
        if connection.scalar(sa.select(cost_line_items.c.x_load_id).limit(1)) is not None:
            return None
    elif recorded_rows != connection.scalar(
        sa.select(sa.func.count()).select_from(cost_line_items)
    ):
        return None
    return [
        {
            "provider_name": provider,
            "billing_account_id": account,
            "billing_period_start": _parse_time(period_start),
            "billing_period_end": _parse_time(period_end),
            "x_load_id": load_id,
            "x_source": group["source"],
            "last_charge": _parse_time(group["last_charge"]),
            "line_items": group["rows"],
        }
        for (load_id, provider, account, period_start, period_end), group in held.items()
    ]


def _replay_run(held: _Held, source: str, details: dict[str, Any]) -> bool:
    """Apply one delivery the way ``warehouse.load`` did; False when that cannot be exact."""
    load_id = details["load_id"]
    groups = details["billing_groups"]
    window = details.get("replaced_window")
    if window is None:  # whole (account, period) pairs replaced, whatever their source
        pairs = {(g["billing_account_id"], _parse_time(g["billing_period_start"])) for g in groups}
        for key in list(held):
            if key[0] != load_id and (key[2], _parse_time(key[3])) in pairs:
                del held[key]
    else:  # this source's rows of the account charged inside [start, end)
        start = dt.datetime.fromisoformat(window["start"]).astimezone(dt.UTC)
        end = dt.datetime.fromisoformat(window["end"]).astimezone(dt.UTC)
        for key, group in list(held.items()):
            if key[0] == load_id or group["source"] != source:
                continue
            if key[2] != window["billing_account_id"]:
                continue
            if not _drop_days(group, start=start, end=end):
                return False
            if group["rows"] == 0:
                del held[key]
    for g in groups:
        key = (
            load_id,
            g["provider_name"],
            g["billing_account_id"],
            g["billing_period_start"],
            g["billing_period_end"],
        )
        held[key] = {
            "source": source,
            "rows": g["rows"],
            "first_charge": g["first_charge"],
            "last_charge": g["last_charge"],
            "by_charge": (
                {_parse_time(at): rows for at, rows in g["by_charge"]} if "by_charge" in g else None
            ),
        }
    return True


def _drop_days(group: dict[str, Any], *, start: dt.datetime, end: dt.datetime) -> bool:
    """Remove a group's rows charged in ``[start, end)``; False if its rows are not known."""
    by_charge: dict[Any, int] | None = group["by_charge"]
    if by_charge is None:
        first, last = _parse_time(group["first_charge"]), _parse_time(group["last_charge"])
        if first is None or last is None or last < start or first >= end:
            return True  # no row of this group is in the window
        if first >= start and last < end:
            group["rows"] = 0  # every row is
            return True
        return False
    kept = {at: rows for at, rows in by_charge.items() if at is None or not start <= at < end}
    group["by_charge"] = kept
    group["rows"] = sum(kept.values())
    times = [at for at in kept if at is not None]
    group["first_charge"] = _iso_time(min(times)) if times else None
    group["last_charge"] = _iso_time(max(times)) if times else None
    return True


def _parse_time(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value).astimezone(dt.UTC)


def _iso_time(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def load_finish_times(connection: Connection) -> dict[str, dt.datetime]:
    """``x_load_id`` → when its delivery finished (from the collector run that recorded it)."""
    column = collector_runs.c
    query = sa.select(column.finished_at, column.details).where(
        column.status == "succeeded", column.details.is_not(None)
    )
    found: dict[str, dt.datetime] = {}
    for row in connection.execute(query):
        load_id = (row.details or {}).get("load_id") if isinstance(row.details, dict) else None
        if load_id and row.finished_at is not None:
            found[str(load_id)] = row.finished_at
    return found
