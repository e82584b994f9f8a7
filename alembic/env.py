"""Alembic environment. The URL comes from spendwatch settings unless a caller hands an engine in
(``warehouse.db.upgrade`` does), so there is one place that decides which database is used."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

from warehouse.schema import metadata


def _engine() -> Engine:
    engine = context.config.attributes.get("engine")
    if engine is not None:
        return engine
    from spendwatch.config import load_settings
    from warehouse.db import make_engine

    return make_engine(load_settings().database.url)


def run_migrations_online() -> None:
    engine = _engine()
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
