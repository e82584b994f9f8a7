"""All construction in one place: engines and (later) SDK clients are built here and passed in."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from spendwatch.config import Settings
from warehouse.db import ensure_schema, make_engine


def open_warehouse(settings: Settings, *, migrate: bool = True) -> Engine:
    """The warehouse engine, upgraded to the current schema on first use."""
    engine = make_engine(settings.database.url, echo=settings.database.echo)
    if migrate:
        ensure_schema(engine)
    return engine
