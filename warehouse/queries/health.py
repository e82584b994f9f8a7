"""Data health reads: the latest run of every collector, price snapshots and Slack messages
given up on. Which billing deliveries are loaded is :mod:`warehouse.queries.billing_loads`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.schema import collector_runs, findings, notification_outbox, prices


def latest_collector_runs(connection: Connection) -> list[dict[str, Any]]:
    """Per source: the latest run (status, rows, error, watermark) and when it last succeeded."""
    column = collector_runs.c
    latest = (
        sa.select(column.source, sa.func.max(column.id).label("id"))
        .group_by(column.source)
        .subquery()
    )
    succeeded = (
        sa.select(column.source, sa.func.max(column.finished_at).label("last_success"))
        .where(column.status == "succeeded")
        .group_by(column.source)
        .subquery()
    )
    query = (
        sa.select(
            column.source,
            column.status,
            column.started_at,
            column.finished_at,
            column.rows,
            column.window_start,
            column.window_end,
            column.watermark,
            column.error,
            succeeded.c.last_success,
        )
        .join(latest, latest.c.id == column.id)
        .join(succeeded, succeeded.c.source == column.source, isouter=True)
        .order_by(column.source)
    )
    return [dict(row._mapping) for row in connection.execute(query)]


def price_snapshots(connection: Connection) -> list[dict[str, Any]]:
    """Per provider and price source: how many prices and the dates they are effective from."""
    column = prices.c
    query = (
        sa.select(
            column.provider,
            column.source,
            sa.func.count().label("prices"),
            sa.func.min(column.effective_at).label("first_effective"),
            sa.func.max(column.effective_at).label("last_effective"),
        )
        .group_by(column.provider, column.source)
        .order_by(column.provider, column.source)
    )
    return [dict(row._mapping) for row in connection.execute(query)]


def failed_notifications(connection: Connection) -> list[dict[str, Any]]:
    """Slack messages given up on (``failed``): channel, the finding, attempts and last error."""
    outbox = notification_outbox.c
    query = (
        sa.select(
            outbox.id,
            outbox.channel,
            outbox.event,
            outbox.finding_id,
            findings.c.kind,
            findings.c.resource_id,
            outbox.attempts,
            outbox.last_error,
            outbox.created_at,
        )
        .select_from(
            notification_outbox.join(findings, findings.c.id == outbox.finding_id, isouter=True)
        )
        .where(outbox.status == "failed")
        .order_by(outbox.created_at.desc(), outbox.id.desc())
    )
    return [dict(row._mapping) for row in connection.execute(query)]
