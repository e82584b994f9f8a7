"""One way to print results: ``--format table|json|csv``.

JSON is the stable interface for scripts: amounts are decimal strings (no float rounding),
timestamps are ISO 8601 in UTC with a trailing ``Z``.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import json
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


# The --format option of the commands that print rows: `fmt: FormatOption = OutputFormat.table`.
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")]


def plain(value: Any) -> Any:
    """A JSON-safe value that keeps money exact."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def emit(
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str],
    fmt: OutputFormat,
    title: str | None = None,
) -> None:
    if fmt is OutputFormat.json:
        json.dump([{c: plain(row.get(c)) for c in columns} for row in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if fmt is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else _cell(row.get(c)) for c in columns])
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if _numeric(rows, column) else "left")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else _cell(row.get(c)) for c in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    result = plain(value)
    return json.dumps(result) if isinstance(result, dict | list) else str(result)


def _numeric(rows: Sequence[Mapping[str, Any]], column: str) -> bool:
    return any(isinstance(row.get(column), Decimal | int | float) for row in rows[:1])
