"""Column types that behave the same on SQLite and PostgreSQL.

Two differences between the dialects would otherwise corrupt money and time:

* SQLite stores ``Numeric`` as a binary float, so cents drift. ``Money`` stores the exact
  decimal text on SQLite and ``NUMERIC`` (arbitrary precision) on PostgreSQL, and always
  hands back ``Decimal``. Sum it with :func:`decimal_sum`, never SQLite's ``SUM``.
* SQLite returns ``DateTime(timezone=True)`` naive. ``UTCDateTime`` refuses naive input and
  always returns aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Context, Decimal, InvalidOperation, localcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

# The text form SQLAlchemy's DateTime uses on SQLite. Bulk writers that bypass the ORM must
# write exactly this, or string comparisons in SQL stop matching bound parameters.
SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class Money(sa.types.TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC on PostgreSQL, decimal text on SQLite."""

    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = value if isinstance(value, Decimal) else to_decimal(value)
        return format(number, "f") if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


def to_decimal(value: Any) -> Decimal:
    """Convert without passing through float; floats are refused because they already lost cents."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise TypeError(f"money must not be a float ({value!r}); pass a Decimal or a string")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every dialect."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused; attach UTC explicitly")
        utc = value.astimezone(dt.UTC)
        # SQLite has no zone support: store naive UTC text in SQLAlchemy's own format.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def json_type() -> sa.types.TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL (models and migrations must both use this)."""
    return sa.JSON().with_variant(JSONB(), "postgresql")


def bigint_pk() -> sa.types.TypeEngine[int]:
    """SQLite only auto-increments INTEGER PRIMARY KEY, so narrow the type there."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class decimal_sum(GenericFunction[Decimal]):
    """Exact SUM of a Money column: SQL ``sum`` on PostgreSQL, a Decimal aggregate on SQLite."""

    type = Money()
    inherit_cache = True
    name = "decimal_sum"


@compiles(decimal_sum)
def _compile_decimal_sum_default(element: decimal_sum, compiler: Any, **kw: Any) -> str:
    return f"sum({compiler.process(element.clauses, **kw)})"


@compiles(decimal_sum, "sqlite")
def _compile_decimal_sum_sqlite(element: decimal_sum, compiler: Any, **kw: Any) -> str:
    return f"decimal_sum({compiler.process(element.clauses, **kw)})"


# Python's default context rounds every sum to 28 significant digits; Azure exports carry 26
# decimal places, so a month's total would silently lose cents' fractions. Sums use this one.
EXACT_SUM = Context(prec=120)


# Values a decimal_sum group holds before adding them up: enough that the per-row work is one
# list append, few enough that a sum over millions of line items stays small in memory.
FOLD_EVERY = 4096


class DecimalSumAggregate:
    """The SQLite side of :class:`decimal_sum`; registered on every SQLite connection.

    SQLite calls ``step`` once per row, and that Python call is most of the aggregate's cost,
    so ``step`` only keeps the value; every ``FOLD_EVERY`` values (and at the end) they are
    converted and added in one ``sum`` under :data:`EXACT_SUM`. The additions are the same, in
    the same order and context, as adding each value as it comes, so the result is too.
    """

    def __init__(self) -> None:
        self.total = Decimal(0)
        self.seen = False
        self.pending: list[Any] = []

    def step(self, value: Any) -> None:
        pending = self.pending
        pending.append(value)
        if len(pending) >= FOLD_EVERY:
            self._fold()

    def _fold(self) -> None:
        values = [
            Decimal(value) if isinstance(value, str) else Decimal(str(value))
            for value in self.pending
            if value is not None
        ]
        self.pending = []
        if values:
            self.seen = True
            with localcontext(EXACT_SUM):
                self.total = sum(values, self.total)

    def finalize(self) -> str | None:
        self._fold()
        return format(self.total, "f") if self.seen else None
