"""Shared fixtures: a migrated warehouse per test, on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``SPENDWATCH_TEST_PG_URL`` (``make test`` sets it from
``scripts/ensure_postgres.sh``), else 127.0.0.1:5432. A PostgreSQL test never skips: if the
server is missing the test fails, because a skipped database test is a hidden failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from warehouse.db import make_engine, upgrade
from warehouse.schema import metadata

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED_DATA.is_dir():  # a clone in another place: fall back to the env var
    SHARED_DATA = Path(os.environ.get("SPENDWATCH_SHARED_DATA", "../shared/data")).resolve()

pytest_plugins = ["tests.moto_aws"]

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"shared samples not found at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating per test is slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return os.environ.get("SPENDWATCH_TEST_PG_URL", DEFAULT_PG_URL)


@pytest.fixture(scope="session")
def pg_database(pg_admin_url: str, worker_id: str) -> Iterator[str]:
    """A fresh migrated database for this test session (one per xdist worker)."""
    name = f"spendwatch_test_{worker_id}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(make_url(pg_admin_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {pg_admin_url} ({exc.orig}); "
            "run `make test`, which starts one, or set SPENDWATCH_TEST_PG_URL"
        )
    url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    worker = getattr(request.config, "workerinput", {}).get("workerid")
    return str(worker or "main")


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated warehouse; the test runs once per dialect."""
    if request.param == "sqlite":
        path = tmp_path / "warehouse.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("pg_database")
    engine = make_engine(url)
    _truncate_all(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
