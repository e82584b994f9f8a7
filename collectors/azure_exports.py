"""Azure Cost Management exports -> FOCUS: EA/MCA actual or amortized cost CSV, and FOCUS exports.

An export is a local path or an https URL (a storage SAS URL is fine: its query string is never
logged or shown). A file whose header has ``BilledCost`` and ``ChargePeriodStart`` is a FOCUS
export and goes through :class:`collectors.focus_files.FocusFile` unchanged. Anything else is read
as an EA/MCA cost-details CSV by :class:`collectors.azure_cost_details.CostDetailsRows`.

Actual and amortized data for the same account and month in one run would count the same money
twice, so that is refused; use one of them, or the FOCUS export, which carries both.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy.engine import Engine

from collectors.azure_cost_details import CostDetailsRows, open_text
from collectors.azure_focus_values import AZURE
from collectors.base import CollectResult
from collectors.cloud_clients import focus_batch
from collectors.focus_files import FocusFile, FocusOptions
from warehouse.errors import IngestError, InputError, SourceError
from warehouse.load import load_focus_batches

EXPORT_SOURCE = "azure-export"
BATCH_ROWS = 50_000


def split_kind(entry: str) -> tuple[str | None, str]:
    """``amortized:PATH`` / ``actual:PATH`` / ``focus:PATH`` or a bare PATH (kind from the name)."""
    for kind in ("actual", "amortized", "focus"):
        if entry.lower().startswith(kind + ":"):
            return kind, entry[len(kind) + 1 :]
    return None, entry


def public_name(location: str) -> str:
    """The location without a URL's query string, which may hold a SAS token."""
    return location.split("?", 1)[0]


def fetch(location: str, directory: Path, *, timeout: float = 60.0) -> Path:
    """A local path as is; an http(s) URL downloaded (streamed) into ``directory``."""
    if not location.lower().startswith(("http://", "https://")):
        path = Path(location).expanduser()
        if not path.is_file():
            raise IngestError(location, "no such file; check the path in [azure] exports")
        return path
    import httpx

    name = public_name(location)
    target = directory / (Path(name).name or "export.csv")
    try:
        with httpx.stream("GET", location, timeout=timeout, follow_redirects=True) as response:
            if response.status_code in (401, 403):
                raise SourceError(
                    f"{name}: the storage account refused the download ({response.status_code}); "
                    "renew the SAS token or grant Storage Blob Data Reader"
                )
            if response.status_code >= 400:
                raise SourceError(
                    f"{name}: download failed with HTTP {response.status_code}; check the URL"
                )
            with target.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
    except httpx.HTTPError as exc:
        raise SourceError(
            f"{name}: download failed ({type(exc).__name__}); check the URL and the network"
        ) from None
    return target


def _is_focus(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True  # Azure writes Parquet for FOCUS exports only
    with open_text(path) as handle:
        header = {name.strip().lower() for name in next(csv.reader(handle), [])}
    return {"billedcost", "chargeperiodstart"} <= header


def export_batches(entries: Sequence[str]) -> Iterator[pa.RecordBatch]:
    """All exports as FOCUS batches; refuses actual and amortized for one account and month."""
    seen: dict[tuple[str | None, dt.datetime], tuple[str, str]] = {}
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for entry in entries:
            kind, location = split_kind(entry)
            path = fetch(location, directory)
            label = public_name(location)
            if kind == "focus" or (kind is None and _is_focus(path)):
                options = FocusOptions(provider_hint=AZURE)
                yield from FocusFile(str(path), options=options)
                continue
            kind = kind or ("amortized" if "amortized" in label.lower() else "actual")
            rows: list[dict[str, Any]] = []
            for row in CostDetailsRows(path, label=label, kind=kind):
                _check_mix(seen, row, kind=kind, label=label)
                rows.append(row)
                if len(rows) >= BATCH_ROWS:
                    yield focus_batch(rows)
                    rows = []
            if rows:
                yield focus_batch(rows)


def _check_mix(
    seen: dict[tuple[str | None, dt.datetime], tuple[str, str]],
    row: Mapping[str, Any],
    *,
    kind: str,
    label: str,
) -> None:
    key = (row["billing_account_id"], row["billing_period_start"])
    first = seen.setdefault(key, (kind, label))
    if first[0] != kind:
        raise InputError(
            f"{label}: {kind} cost for account {key[0]} {key[1]:%Y-%m} is also in {first[1]} "
            f"({first[0]}); configure one of them, or the FOCUS export, which carries both"
        )


class AzureExportsCollector:
    """``spendwatch collect azure_exports``: every export in ``[azure] exports``, one delivery.

    Exports hold whole billing periods, and the load replaces each (account, month) they hold,
    so the time window does not filter anything: a re-delivered month simply replaces itself.
    """

    name = "azure_exports"
    loads = "cost_line_items"
    natural_key: tuple[str, ...] = ("billing_account_id", "billing_period_start")
    lookback = dt.timedelta(days=1)  # the window filters nothing; it only has to be non-empty
    initial_window = dt.timedelta(days=31)

    def __init__(self, exports: Sequence[str]) -> None:
        self.exports = list(exports)

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        result = load_focus_batches(
            engine,
            export_batches(self.exports),
            source=EXPORT_SOURCE,
            details={"exports": [public_name(split_kind(e)[1]) for e in self.exports]},
        )
        return CollectResult(
            rows=result.rows,
            watermark=until,
            details={"replaced_rows": result.replaced_rows, "periods": len(result.periods)},
        )
