"""The dashboard's findings reads: findings with their evidence, the filter choices and the
realized savings of resolved findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.schema import findings


def finding_rows(
    connection: Connection,
    *,
    kinds: Sequence[str] = (),
    statuses: Sequence[str] = (),
    owners: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Findings with their evidence, largest saving first; empty filters mean all."""
    column = findings.c
    query = sa.select(findings)
    if kinds:
        query = query.where(column.kind.in_(list(kinds)))
    if statuses:
        query = query.where(column.status.in_(list(statuses)))
    if owners:
        query = query.where(column.owner.in_(list(owners)))
    rows = [dict(row._mapping) for row in connection.execute(query)]
    rows.sort(key=lambda row: (-row["monthly_savings"], row["id"]))
    return rows


def finding_facets(connection: Connection) -> dict[str, list[str]]:
    """Distinct kinds, statuses and owners, for filter choices."""
    column = findings.c
    return {
        name: [
            value
            for value in connection.scalars(
                sa.select(col).where(col.is_not(None)).distinct().order_by(col)
            )
        ]
        for name, col in (("kind", column.kind), ("status", column.status), ("owner", column.owner))
    }


def realized_savings(connection: Connection) -> list[dict[str, Any]]:
    """Resolved findings whose realized monthly saving is known, with when they resolved."""
    column = findings.c
    query = sa.select(
        column.kind,
        column.resource_id,
        column.owner,
        column.currency,
        column.resolved_at,
        column.realized_monthly_savings,
    ).where(column.status == "resolved", column.realized_monthly_savings.is_not(None))
    return [dict(row._mapping) for row in connection.execute(query)]
