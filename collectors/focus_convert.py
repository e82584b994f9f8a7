"""Vectorised cell conversion for FOCUS files: text in, warehouse-ready Arrow arrays out.

Every function takes one column of one batch as an Arrow array and either returns the converted
array or raises :class:`IngestError` naming the first bad cell (file, 1-based data row, column).
The per-row Python work happens only on the error path and for JSON validation of distinct
values, so a million-row file costs a few compute kernels per column per batch.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping

import pyarrow as pa
import pyarrow.compute as pc
from babel.numbers import is_currency

from warehouse.errors import IngestError

UTC_MICROS = pa.timestamp("us", tz="UTC")
NULL_WORDS = ("NULL", "null")

_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
# The spec's SaaS examples write money as "$10,000.00 ": a currency sign and thousands groups.
_SIGN_THEN_SYMBOL = r"^([+-]?)\s*[$€£¥]\s*"
_GROUPED = r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$"
_MDY = r"^\d{1,2}/\d{1,2}/\d{2}(\d{2})?$"
_MDY_4 = r"^\d{1,2}/\d{1,2}/\d{4}$"
_UTC_SUFFIX = r"(Z|[+-]00:?00)$"
_OFFSET = r"[+-]\d\d:?\d\d$"
_HOUR_PAST_24 = r"^\d{4}-\d\d-\d\d[T ](2[4-9]|[3-9]\d|\d{3,}):"


class CellError(ValueError):
    """A cell could not be converted; ``index`` is its position in the batch."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


def as_text(array: pa.Array) -> pa.Array:
    """Strings with surrounding blanks trimmed and empty/``NULL``/``null`` cells as nulls."""
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    trimmed = pc.utf8_trim_whitespace(array)
    nullish = pc.or_(pc.equal(trimmed, ""), pc.is_in(trimmed, pa.array(NULL_WORDS)))
    return pc.if_else(nullish, pa.scalar(None, pa.string()), trimmed)


def _first(mask: pa.Array) -> int:
    """Index of the first true value (nulls count as false), or -1."""
    found = pc.index(pc.fill_null(mask, False), True).as_py()
    return int(found)


def decimal_text(array: pa.Array) -> pa.Array:
    """Exact decimal text (never through float). Raises :class:`CellError` on a non-number."""
    if pa.types.is_decimal(array.type) or pa.types.is_integer(array.type):
        return pc.cast(array, pa.string())
    if pa.types.is_floating(array.type):
        # A typed Parquet file already holds binary floats; their shortest text is what the
        # exporter meant, and it is what Decimal(str(x)) would give.
        return pc.cast(array, pa.string())
    if not pc.any(pc.invert(pc.match_substring_regex(array, _NUMBER))).as_py():
        return array  # the common case: plain numbers (nulls stay null)
    text = as_text(array)
    text = pc.replace_substring_regex(text, _SIGN_THEN_SYMBOL, r"\1")
    grouped = pc.match_substring_regex(text, _GROUPED)
    text = pc.if_else(grouped, pc.replace_substring(text, ",", ""), text)
    bad = pc.invert(pc.match_substring_regex(text, _NUMBER))
    index = _first(bad)
    if index >= 0:
        raise CellError(index, f"{array[index].as_py()!r} is not a number")
    return text


def utc_timestamps(array: pa.Array) -> pa.Array:
    """Aware UTC microseconds from ISO 8601 (with or without ``T``/``Z``/offset) or M/D/Y."""
    if pa.types.is_timestamp(array.type):
        unit_cast = pc.cast(array, pa.timestamp("us", tz=array.type.tz))
        if array.type.tz is None:  # FOCUS timestamps are UTC by definition
            return pc.assume_timezone(unit_cast, "UTC")
        return pc.cast(unit_cast, UTC_MICROS)
    if pa.types.is_date(array.type):
        return pc.assume_timezone(
            pc.cast(pc.cast(array, pa.timestamp("s")), "timestamp[us]"), "UTC"
        )
    for fast in (_cast_zoned, _cast_naive):  # files are usually uniform: one cast does it
        try:
            return fast(array)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    text = as_text(array)
    try:
        result = _parse_text(text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _first_unparseable(text) from None
    index = _first(pc.and_(pc.is_valid(text), pc.is_null(result)))
    if index >= 0:
        raise CellError(index, f"{text[index].as_py()!r} is not a date/time")
    return result


def _cast_zoned(text: pa.Array) -> pa.Array:
    return pc.cast(text, UTC_MICROS)


def _cast_naive(text: pa.Array) -> pa.Array:
    return pc.assume_timezone(pc.cast(text, pa.timestamp("us")), "UTC")


def _parse_text(text: pa.Array) -> pa.Array:
    """Parse trimmed text; unparseable cells come back null or raise an Arrow error."""
    null_text = pa.scalar(None, pa.string())
    is_mdy = pc.match_substring_regex(text, _MDY)
    plain = pc.replace_substring_regex(text, _UTC_SUFFIX, "")
    has_offset = pc.match_substring_regex(plain, _OFFSET)
    late = pc.match_substring_regex(plain, _HOUR_PAST_24)
    parts = []
    if pc.any(late).as_py():
        parts.append(_rolled_over(pc.if_else(late, text, null_text)))
    special = pc.or_(pc.or_(is_mdy, has_offset), late)
    naive = pc.cast(pc.if_else(special, null_text, plain), pa.timestamp("us"))
    parts.append(pc.assume_timezone(naive, "UTC"))
    offset = pc.if_else(pc.and_(has_offset, pc.invert(late)), plain, null_text)
    parts.append(pc.cast(offset, UTC_MICROS))
    if pc.any(is_mdy).as_py():
        four = pc.match_substring_regex(text, _MDY_4)
        for mask, fmt in ((four, "%m/%d/%Y"), (pc.and_(is_mdy, pc.invert(four)), "%m/%d/%y")):
            parsed = pc.strptime(
                pc.if_else(mask, text, null_text), format=fmt, unit="us", error_is_null=True
            )
            parts.append(pc.assume_timezone(parsed, "UTC"))
    return pc.coalesce(*parts)


def _rolled_over(text: pa.Array) -> pa.Array:
    """Hours past 24 roll into the next days: the spec's own examples write ``T30:00:00Z``.

    ISO 8601 allows ``24:00`` for the end of a day; we extend that to any hour, as a count of
    hours after midnight, rather than refuse the spec's example. Dates stay strict.
    """
    values: list[dt.datetime | None] = []
    for value in text.to_pylist():
        match = re.match(r"^(\d{4}-\d\d-\d\d)[T ](\d+)(:.*)$", value or "")
        if match is None:
            values.append(None)
            continue
        day, hours, rest = match.groups()
        try:
            midnight = dt.datetime.fromisoformat(f"{day}T00{rest}")
        except ValueError:
            values.append(None)
            continue
        if midnight.tzinfo is None:
            midnight = midnight.replace(tzinfo=dt.UTC)
        values.append((midnight + dt.timedelta(hours=int(hours))).astimezone(dt.UTC))
    return pa.array(values, UTC_MICROS)


def _first_unparseable(text: pa.Array) -> CellError:
    """The slow path: Arrow refused the whole array, so find the cell by trying each one."""
    for index, value in enumerate(text.to_pylist()):
        if value is None:
            continue
        try:
            parsed = _parse_text(pa.array([value], pa.string()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return CellError(index, f"{value!r} is not a date/time")
        if parsed.null_count:
            return CellError(index, f"{value!r} is not a date/time")
    return CellError(0, "dates could not be read")  # pragma: no cover - Arrow refused, we didn't


class JsonObjectCheck:
    """Validates JSON-object cells, remembering values already seen (tags repeat a lot)."""

    def __init__(self, *, memory: int = 200_000):
        self._valid: set[str] = set()
        self._memory = memory

    def __call__(self, array: pa.Array) -> pa.Array:
        text = as_text(array)
        for value in pc.unique(text).to_pylist():
            if value is None or value in self._valid:
                continue
            problem = _json_object_problem(value)
            if problem:
                index = _first(pc.equal(text, value))
                raise CellError(index, problem)
            if len(self._valid) < self._memory:
                self._valid.add(value)
        return text


def _json_object_problem(value: str) -> str | None:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        return f"{_short(value)} is not valid JSON ({exc.msg} at character {exc.pos + 1})"
    if not isinstance(parsed, dict):
        return f"{_short(value)} is JSON but not an object of key/value pairs"
    return None


def _short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


def currency_codes(array: pa.Array, *, default: str) -> pa.Array:
    """ISO 4217 codes; empty cells take ``default``. Raises :class:`CellError` on a bad code."""
    text = pc.fill_null(pc.utf8_upper(as_text(array)), default)
    for code in pc.unique(text).to_pylist():
        if not is_currency(code):
            index = _first(pc.equal(text, code))
            raise CellError(index, f"{array[index].as_py()!r} is not an ISO 4217 currency code")
    return text


def x_extra_json(columns: Mapping[str, pa.Array], length: int) -> pa.Array:
    """One JSON object per row holding the non-null ``x_*`` cells, or null when all are null."""
    if not columns:
        return pa.nulls(length, pa.string())
    pieces = []
    for name, array in columns.items():
        value = _json_string_body(as_text(array))
        key = json.dumps(name)
        pieces.append(pc.binary_join_element_wise(key + ':"', value, '"', ""))
    # Arrow's null_handling="skip" drops rows where every piece is null, so join with a control
    # character (escaped values never contain one) and squeeze the gaps out afterwards.
    joined = pc.binary_join_element_wise(
        *pieces, "\x01", null_handling="replace", null_replacement=""
    )
    joined = pc.replace_substring_regex(joined, "^\x01+|\x01+$", "")
    joined = pc.replace_substring_regex(joined, "\x01+", ",")
    wrapped = pc.binary_join_element_wise("{", joined, "}", "")
    empty = pc.fill_null(pc.equal(joined, ""), True)
    return pc.if_else(empty, pa.scalar(None, pa.string()), wrapped)


def _json_string_body(text: pa.Array) -> pa.Array:
    """Escape text for the inside of a JSON string, without a Python loop in the common case."""
    if not pc.any(pc.match_substring_regex(text, r'["\\\x00-\x1f]')).as_py():
        return text
    escaped = pc.replace_substring(text, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    for raw, sequence in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        escaped = pc.replace_substring(escaped, raw, sequence)
    other_controls = pc.match_substring_regex(escaped, r"[\x00-\x1f]")
    if pc.any(other_controls).as_py():
        slow = pa.array([None if v is None else json.dumps(v)[1:-1] for v in text.to_pylist()])
        escaped = pc.if_else(other_controls, slow, escaped)
    return escaped


Converter = Callable[[pa.Array], pa.Array]


def convert_column(
    converter: Converter, array: pa.Array, *, path: str, column: str, first_row: int
) -> pa.Array:
    """Run one converter, turning a :class:`CellError` into a one-line :class:`IngestError`."""
    try:
        return converter(array)
    except CellError as exc:
        raise IngestError(
            path,
            f"{exc}; fix the cell and ingest the file again",
            row=first_row + exc.index,
            column=column,
        ) from None
