"""Reads for the ``cold_storage`` rule: the latest inventory of each prefix, and storage prices."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.queries.gpu import _frame
from warehouse.schema import prices, storage_inventory


def latest_storage_inventory(connection: Connection) -> pd.DataFrame:
    """The rows of each (provider, bucket, prefix)'s newest snapshot, one per storage class.

    A prefix's older snapshots are history: a prefix moved to a colder tier last week must not
    be recommended again from the week before.
    """
    s = storage_inventory.c
    newest = (
        sa.select(s.provider, s.bucket, s.prefix, sa.func.max(s.snapshot_at).label("snapshot_at"))
        .group_by(s.provider, s.bucket, s.prefix)
        .subquery()
    )
    query = (
        sa.select(
            s.provider,
            s.account_id,
            s.region,
            s.bucket,
            s.prefix,
            s.storage_class,
            s.bytes,
            s.objects,
            s.small_objects,
            s.last_modified,
            s.last_accessed,
            s.lifecycle_managed,
            s.tags,
            s.snapshot_at,
        )
        .select_from(
            storage_inventory.join(
                newest,
                sa.and_(
                    newest.c.provider == s.provider,
                    newest.c.bucket == s.bucket,
                    newest.c.prefix == s.prefix,
                    newest.c.snapshot_at == s.snapshot_at,
                ),
            )
        )
        .order_by(s.provider, s.bucket, s.prefix, s.storage_class)
    )
    return _frame(connection.execute(query))


def storage_prices(connection: Connection, *, as_of: dt.datetime) -> pd.DataFrame:
    """Per-GB-month storage prices in force at ``as_of``, newest per (provider, region, class).

    Columns: provider, region, storage_class (upper case), price, currency, effective_at, source.
    """
    p = prices.c
    query = (
        sa.select(
            p.provider,
            p.region,
            sa.func.upper(p.sku).label("storage_class"),
            p.price,
            p.currency,
            p.effective_at,
            p.source,
        )
        .where(p.unit == "GB-month", p.pricing_model == "on_demand", p.effective_at <= as_of)
        .order_by(p.provider, p.region, p.sku, p.effective_at.desc(), p.source)
    )
    frame = _frame(connection.execute(query))
    if frame.empty:
        return frame
    keys = ["provider", "region", "storage_class"]
    return frame.drop_duplicates(keys, keep="first").reset_index(drop=True)
