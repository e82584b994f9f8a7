"""Engines and the schema upgrade. Every entry point gets its engine from :func:`make_engine`."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from warehouse.types import DecimalSumAggregate

ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"


class DatabaseError(Exception):
    """The warehouse could not be reached or upgraded. The message says which URL (no password)."""


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg 3 is the driver we ship; plain postgresql:// would look for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    dbapi_connection.create_aggregate("decimal_sum", 1, DecimalSumAggregate)  # type: ignore[arg-type]
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while a collector writes; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, *, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (Alembic). Safe to call on every start."""
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), revision)
    except sa.exc.OperationalError as exc:
        raise _unreachable(engine, exc) from None


def is_current(engine: Engine) -> bool:
    """True when the database is already at the head revision."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except sa.exc.OperationalError as exc:
        raise _unreachable(engine, exc) from None
    return current == head


def _unreachable(engine: Engine, exc: sa.exc.OperationalError) -> DatabaseError:
    reason = " ".join(str(exc.orig).split())  # drivers add newlines; keep the message one line
    return DatabaseError(
        f"cannot use the warehouse at {safe_url(str(engine.url))}: {reason}; "
        "check that the database is running and SPENDWATCH_DATABASE__URL is right"
    )


def ensure_schema(engine: Engine) -> None:
    """Upgrade on first use, so no command needs a separate `db upgrade` step."""
    if not is_current(engine):
        upgrade(engine)
