"""Build ``cost_daily`` rows from normalized FOCUS batches, in Arrow.

The loader feeds each delivery's batches through :class:`DailyRollupBuilder` while it writes
them (in its reader thread), and ``warehouse.rollups`` feeds line items read back from the
table through the same class, so a load and a rebuild cannot disagree. Summing in Arrow's C++
instead of SQL matters on SQLite, where every value summed in SQL is a Python call.

Exactness, the way :class:`warehouse.types.decimal_sum` defines it:

* money text is cast to ``decimal256(76, 38)`` and summed exactly;
* each sum keeps the scale of its most precise value (Python's and PostgreSQL's rule: 1.50 +
  1 = 2.50), so the stored text equals a ``decimal_sum`` over the same line items;
* text Arrow cannot cast (exponents, spaces) goes through Python's ``Decimal`` instead.

``usage_hours`` adds up the hours of the group's *distinct* (charge_period_start,
charge_period_end) pairs: batches are first reduced per charge period, then per group.

Memory stays bounded whatever the delivery's size. The per-period state is as large as the
input when every line item is its own group (an hourly export of a big fleet), so once it holds
``_SPILL_ROWS`` rows it is appended to one temporary Arrow IPC file, cut into *slots*: the
quarter of the UTC day the charge period starts in. Groups never span days, and one charge
period falls in one slot, so :meth:`DailyRollupBuilder.results` reduces a day a slot or more
at a time (about ``_SPILL_ROWS`` rows per step) and adds each step's group totals to the
day's: memory is bounded by the day's groups and one slot of line items, not by the
delivery or the size of its days.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from warehouse.schema import ROLLUP_GROUP_COLUMNS, ROLLUP_MONEY_COLUMNS

MONEY = pa.decimal256(76, 38)
TIME = pa.timestamp("us", tz="UTC")
KEYS: tuple[str, ...] = ("day", "billing_period_start", *ROLLUP_GROUP_COLUMNS, "x_source", "team")
PERIOD: tuple[str, ...] = ("charge_period_start", "charge_period_end")
_PLAIN_NUMBER = r"^[+-]?[0-9]*\.?[0-9]*$"
_SPILL_ROWS = 10_000  # per-period rows held in memory (~4 MB) before they go to disk
# Spilled rows are cut by the charge start's quarter of the day. Smaller slots bound memory
# tighter (a slot is reduced whole) but cost more: one-hour slots made 300k rows' rollup 80%
# slower, six-hour slots cost nothing over the old whole-day cut.
_SLOT_HOURS = 6


class DailyRollupBuilder:
    """Add batches of ``cost_line_items`` columns; :meth:`results` gives the rollup rows.

    Batches carry money as decimal text, times as UTC timestamps and ``tags`` as JSON text.
    ``x_source`` is taken from the batch when present, else ``source``.
    """

    def __init__(
        self, *, team_tag: str, source: str | None = None, spill_rows: int = _SPILL_ROWS
    ) -> None:
        self.team_tag = team_tag
        self.source = source
        self.spill_rows = spill_rows
        self._parts: list[pa.Table] = []
        self._rows = 0
        # The spill file: each slot's batches in it, by index.
        self._spill_dir: tempfile.TemporaryDirectory[str] | None = None
        self._spill_writer: pa.ipc.RecordBatchFileWriter | None = None
        self._spilled: dict[Any, list[int]] = {}
        self._spilled_batches = 0

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        part = _per_period(self._prepare(batch))
        self._parts.append(part)
        self._rows += part.num_rows
        if self._rows > self.spill_rows:
            self._compact()
            if self._rows > self.spill_rows // 2:  # reducing did not help: one row per line item
                self._spill()

    def results(self) -> Iterator[pa.Table]:
        """Rollup tables, one row per day and group: KEYS, money text, line_count, usage_hours.

        Without a spill that is one table; after one, one table per day. The builder is empty
        afterwards.
        """
        self._compact()
        memory = self._parts[0] if self._parts else None
        self._parts, self._rows = [], 0
        if self._spill_writer is None:
            yield _groups(memory if memory is not None else _per_period(_empty()))
            return
        self._spill_writer.close()
        spilled, self._spilled = self._spilled, {}
        try:
            in_memory = {} if memory is None else dict(_split_slots(memory))
            del memory
            slots = sorted(set(spilled) | set(in_memory), key=_slot_order)
            with pa.OSFile(self._spill_path) as source:  # plain reads: freed once reduced
                spill = pa.ipc.open_file(source)
                for _, day_slots in itertools.groupby(slots, key=_slot_day):
                    totals: pa.Table | None = None
                    pending: list[pa.Table] = []
                    for slot in day_slots:
                        pending += [_table(spill.get_batch(i)) for i in spilled.get(slot, [])]
                        if slot in in_memory:
                            pending.append(in_memory.pop(slot))
                        if sum(part.num_rows for part in pending) >= self.spill_rows:
                            totals, pending = _add_totals(totals, pending), []
                    yield _money_as_text(_add_totals(totals, pending))
        finally:
            self.close()

    def result(self) -> pa.Table:
        """All of :meth:`results` as one table (for scopes known to be small)."""
        return pa.concat_tables(list(self.results()))

    def close(self) -> None:
        """Remove the temporary files; the builder keeps no rows."""
        self._parts, self._rows, self._spilled, self._spilled_batches = [], 0, {}, 0
        if self._spill_writer is not None:
            self._spill_writer.close()
            self._spill_writer = None
        if self._spill_dir is not None:
            self._spill_dir.cleanup()
            self._spill_dir = None

    @property
    def spilled(self) -> bool:
        return self._spill_writer is not None

    @property
    def _spill_path(self) -> str:
        assert self._spill_dir is not None
        return f"{self._spill_dir.name}/per-period.arrow"

    def _compact(self) -> None:
        if len(self._parts) > 1:
            self._parts = [_per_period(pa.concat_tables(self._parts), partial=True)]
        self._rows = self._parts[0].num_rows if self._parts else 0

    def _spill(self) -> None:
        table = self._parts[0]
        if self._spill_writer is None:
            self._spill_dir = tempfile.TemporaryDirectory(prefix="spendwatch-rollup-")
            self._spill_writer = pa.ipc.new_file(self._spill_path, table.schema)
        for slot, part in _split_slots(table):
            self._spill_writer.write_table(part, max_chunksize=part.num_rows or 1)
            self._spilled.setdefault(slot, []).append(self._spilled_batches)
            self._spilled_batches += 1
        self._parts, self._rows = [], 0

    def _prepare(self, batch: pa.RecordBatch | pa.Table) -> pa.Table:
        names, rows = batch.schema.names, batch.num_rows

        def column(name: str, kind: pa.DataType) -> pa.Array:
            if name not in names:
                return pa.nulls(rows, kind)
            array = batch.column(names.index(name))
            if isinstance(array, pa.ChunkedArray):
                array = array.combine_chunks()
            return array if array.type == kind else pc.cast(array, kind)

        start = column("charge_period_start", TIME)
        source = (
            column("x_source", pa.string())
            if "x_source" in names
            else pa.repeat(pa.scalar(self.source, pa.string()), rows)
        )
        prepared: dict[str, pa.Array] = {
            "day": pc.floor_temporal(start, unit="day"),
            "billing_period_start": column("billing_period_start", TIME),
            **{name: column(name, pa.string()) for name in ROLLUP_GROUP_COLUMNS},
            "x_source": source,
            "team": _tag_values(column("tags", pa.string()), self.team_tag),
            "charge_period_start": start,
            "charge_period_end": column("charge_period_end", TIME),
        }
        for name in ROLLUP_MONEY_COLUMNS:
            prepared[name], prepared[f"{name}_scale"] = _money(column(name, pa.string()))
        prepared["line_count"] = pa.repeat(pa.scalar(1, pa.int64()), rows)
        return pa.table(prepared)


def _groups(periods: pa.Table) -> pa.Table:
    """Reduce per-period rows to one row per day and group, money as text."""
    return _money_as_text(_totals(periods))


def _totals(periods: pa.Table) -> pa.Table:
    """Per day and group: money sums (decimal) with their scales, line_count, usage_hours."""
    length = pc.subtract(periods["charge_period_end"], periods["charge_period_start"])
    hours = pc.divide(pc.cast(pc.cast(length, pa.int64()), pa.float64()), 3_600_000_000.0)
    return _sum_by_group(periods.drop_columns(list(PERIOD)).append_column("usage_hours", hours))


def _sum_by_group(table: pa.Table) -> pa.Table:
    aggregates: list[Any] = [("line_count", "sum"), ("usage_hours", "sum")]
    for name in ROLLUP_MONEY_COLUMNS:
        aggregates += [(name, "sum"), (f"{name}_scale", "max")]
    grouped = table.group_by(list(KEYS), use_threads=False).aggregate(aggregates)
    return grouped.rename_columns(
        [name.removesuffix("_sum").removesuffix("_max") for name in grouped.schema.names]
    )


def _add_totals(totals: pa.Table | None, pending: list[pa.Table]) -> pa.Table:
    """``totals`` plus the group totals of ``pending`` per-period parts. Whole slots only: a
    charge period is in one slot, so its rows meet in one ``pending`` and count once."""
    parts = [] if totals is None else [totals]
    if pending:
        parts.append(_totals(_per_period(pa.concat_tables(pending), partial=True)))
    return parts[0] if len(parts) == 1 else _sum_by_group(pa.concat_tables(parts))


def _money_as_text(totals: pa.Table) -> pa.Table:
    columns = {key: totals[key] for key in KEYS}
    for name in ROLLUP_MONEY_COLUMNS:
        columns[name] = _money_text(totals[name], totals[f"{name}_scale"])
    columns["line_count"] = totals["line_count"]
    columns["usage_hours"] = totals["usage_hours"]
    return pa.table(columns)


def _split_slots(table: pa.Table) -> list[tuple[Any, pa.Table]]:
    """The table's rows per slot: the UTC quarter-day its charge period starts in (multiples
    of six hours from the epoch, so a slot never crosses midnight), or None: no start."""
    slot = pc.floor_temporal(table["charge_period_start"], unit="hour", multiple=_SLOT_HOURS)
    ordered = table.append_column("_slot", slot).sort_by([("_slot", "ascending")])
    runs = pc.run_end_encode(ordered["_slot"].combine_chunks())
    ordered = ordered.drop_columns(["_slot"])
    split, start = [], 0
    for slot_start, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
        split.append((slot_start, ordered.slice(start, end - start)))
        start = end
    return split or [(None, ordered)]


def _slot_order(slot: Any) -> tuple[bool, Any]:
    return (slot is None, slot or 0)


def _slot_day(slot: Any) -> Any:
    return None if slot is None else slot.date()


def _empty() -> pa.Table:
    builder = DailyRollupBuilder(team_tag="team", source="")
    return builder._prepare(pa.table({"x_source": pa.array([], pa.string())}))


def _per_period(table: pa.Table, *, partial: bool = False) -> pa.Table:
    """Reduce to one row per group and charge period (``partial``: re-reduce earlier parts)."""
    money = [(name, "sum") for name in ROLLUP_MONEY_COLUMNS]
    scales = [(f"{name}_scale", "max") for name in ROLLUP_MONEY_COLUMNS]
    reduced = table.group_by([*KEYS, *PERIOD], use_threads=False).aggregate(
        [*money, *scales, ("line_count", "sum")]
    )
    return reduced.rename_columns(
        [name.removesuffix("_sum").removesuffix("_max") for name in reduced.schema.names]
    )


def _tag_values(tags: pa.Array, key: str) -> pa.Array:
    """The value of tag ``key`` per row, parsing each distinct tags text once."""
    encoded = pc.dictionary_encode(tags)
    values: list[str | None] = []
    for text in encoded.dictionary.to_pylist():
        try:
            parsed = json.loads(text)
        except (TypeError, ValueError):
            parsed = None
        value = parsed.get(key) if isinstance(parsed, dict) else None
        values.append(
            None if value is None else value if isinstance(value, str) else json.dumps(value)
        )
    return pc.take(pa.array(values, pa.string()), encoded.indices)


def _money(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Exact decimals and each value's scale (digits after the point) from decimal text."""
    if text.null_count == len(text):
        return pa.nulls(len(text), MONEY), pa.nulls(len(text), pa.int16())
    if pc.all(pc.match_substring_regex(text, _PLAIN_NUMBER)).as_py():
        point = pc.find_substring(text, ".")
        length = pc.utf8_length(text)
        scale = pc.if_else(pc.less(point, 0), 0, pc.subtract(pc.subtract(length, point), 1))
        try:
            return pc.cast(text, MONEY), pc.cast(scale, pa.int16())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # more than 38 digits on either side of the point: let Decimal say so
    return _money_slow(text)


def _money_slow(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    numbers: list[Decimal | None] = []
    for value in text.to_pylist():
        try:
            numbers.append(None if value is None else Decimal(value.strip()))
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    scales = [None if n is None else max(0, -int(n.as_tuple().exponent)) for n in numbers]
    plain = [None if n is None else format(n, "f") for n in numbers]
    return pc.cast(pa.array(plain, pa.string()), MONEY), pa.array(scales, pa.int16())


def _money_text(sums: pa.ChunkedArray, scales: pa.ChunkedArray) -> pa.Array:
    """Each sum as plain decimal text with exactly its group's scale."""
    sums, scales = sums.combine_chunks(), scales.combine_chunks()
    distinct = [s for s in pc.unique(scales).to_pylist() if s is not None]
    if not distinct:
        return pa.nulls(len(sums), pa.string())
    candidates = [
        pc.cast(pc.cast(sums, pa.decimal256(76, scale), safe=False), pa.string())
        for scale in distinct
    ]
    index = pc.index_in(scales, pa.array(distinct, scales.type))
    chosen = pc.choose(pc.fill_null(index, 0), *candidates)
    chosen = pc.if_else(pc.is_null(scales), pa.scalar(None, pa.string()), chosen)
    # Arrow writes |x| < 1e-6 in scientific notation; store the plain text Money writes.
    scientific = pc.match_substring(chosen, "E")
    if pc.any(scientific).as_py():
        values = chosen.to_pylist()
        for i in pc.indices_nonzero(pc.fill_null(scientific, False)).to_pylist():
            values[i] = format(Decimal(values[i]), "f")
        chosen = pa.array(values, pa.string())
    return chosen


def _table(batch: pa.RecordBatch) -> pa.Table:
    return pa.Table.from_batches([batch])
