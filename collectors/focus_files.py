"""Read FOCUS billing files (CSV, CSV.gz, Parquet; local or ``s3://``) as normalized batches.

A file is streamed: CSV through ``pyarrow.csv.open_csv`` in blocks with every cell read as text,
Parquet by batches. Each batch comes out as an Arrow RecordBatch whose columns are warehouse
column names (``warehouse.schema``) holding warehouse-ready values:

* money and quantities: exact decimal text;
* timestamps: ``timestamp[us, UTC]``;
* ``tags`` / ``sku_price_details``: JSON object text, validated;
* ``billing_currency`` (ISO 4217) and ``provider_name`` always present;
* ``x_extra``: the file's ``x_*`` columns as one JSON object per row.

Bad input raises :class:`IngestError` naming the file, the 1-based data row and the column.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from collectors.focus_columns import REQUIRED, HeaderMap, display_name, map_header
from collectors.focus_convert import (
    JsonObjectCheck,
    as_text,
    convert_column,
    currency_codes,
    decimal_text,
    utc_timestamps,
    x_extra_json,
)
from warehouse.errors import IngestError, SourceError
from warehouse.schema import (
    FOCUS_JSON_COLUMNS,
    FOCUS_MONEY_COLUMNS,
    FOCUS_QUANTITY_COLUMNS,
    FOCUS_TIME_COLUMNS,
)

log = logging.getLogger(__name__)

# Enough generated names for any real header; Arrow ignores types for columns a file lacks.
_MAX_COLUMNS = 4096
# Arrow reads ahead several blocks and converts a batch at a time: both bound memory. With
# 1 MiB blocks and 4 MiB batches the bench ingest peaked ~50 MB higher at the same speed.
_CSV_BLOCK_BYTES = 1 << 18
_CONVERT_BYTES = 2 << 20  # text converted at once (~3k rows of a 41-column export)
_NUMERIC = frozenset(FOCUS_MONEY_COLUMNS + FOCUS_QUANTITY_COLUMNS)
_TIMES = frozenset(FOCUS_TIME_COLUMNS)
_JSONS = frozenset(FOCUS_JSON_COLUMNS)


@dataclass(frozen=True)
class FocusOptions:
    provider_hint: str | None = None
    default_currency: str = "USD"
    batch_rows: int = 65_536


@dataclass
class FocusFile:
    """One file of a delivery. Iterate it for batches; ``rows`` counts what was read so far."""

    location: str
    options: FocusOptions = field(default_factory=FocusOptions)
    s3_client: Any = None
    rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    _json_checks: dict[str, JsonObjectCheck] = field(default_factory=dict, init=False, repr=False)
    _unconverted: int = field(default=0, init=False, repr=False)  # read, not yet converted
    # How far through its source the reader is, for progress bars: a position and a total in
    # the same unit (bytes of a CSV as stored, rows of a Parquet file), when known.
    _position: Callable[[], int] | None = field(default=None, init=False, repr=False)
    _total: int | None = field(default=None, init=False, repr=False)

    @property
    def fraction_read(self) -> float | None:
        """Share of the source read so far (0 to 1), or None when its size is unknown."""
        if self._position is None or not self._total:
            return None
        try:
            return min(self._position() / self._total, 1.0)
        except (OSError, ValueError, AttributeError):  # a stream that cannot tell its position
            return None

    @property
    def format(self) -> str:
        name = self.location.lower()
        if name.endswith((".parquet", ".pq")):
            return "parquet"
        return "csv.gz" if name.endswith(".gz") else "csv"

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        with ExitStack() as stack:
            if self.format == "parquet":
                yield from self._parquet_batches(stack)
            else:
                yield from self._csv_batches(stack)

    # --- CSV ----------------------------------------------------------------------------
    def _csv_batches(self, stack: ExitStack) -> Iterator[pa.RecordBatch]:
        stream = stack.enter_context(self._open_stream())
        read_options = pa_csv.ReadOptions(
            autogenerate_column_names=True,  # the header comes back as row 0, read as text
            block_size=_CSV_BLOCK_BYTES,
        )
        convert_options = pa_csv.ConvertOptions(
            column_types={f"f{i}": pa.string() for i in range(_MAX_COLUMNS)},
            null_values=["", "NULL", "null"],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        parse_options = pa_csv.ParseOptions(newlines_in_values=True)
        reader = self._guard(
            lambda: pa_csv.open_csv(
                stream,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
        )
        if reader is None:
            raise IngestError(self.location, "the file is empty; expected a FOCUS header row")
        header: HeaderMap | None = None
        pending: list[pa.RecordBatch] = []
        while True:
            batch = self._guard(reader.read_next_batch, stop_ok=True)
            if batch is None:
                break
            if header is None:
                if batch.num_rows == 0:
                    continue
                names = [batch.column(i)[0].as_py() or "" for i in range(batch.num_columns)]
                header = self._header(names)
                batch = batch.slice(1)
            if batch.num_rows:
                pending.append(batch)
                self._unconverted += batch.num_rows
            # Conversion costs a few kernels per column per batch: run them on several blocks
            # at once (small blocks keep Arrow's read-ahead, and so memory, small).
            if sum(b.nbytes for b in pending) >= _CONVERT_BYTES:
                yield from self._converted(pending, header)
                pending = []
        if header is None:
            raise IngestError(self.location, "the file is empty; expected a FOCUS header row")
        if pending:
            yield from self._converted(pending, header)

    def _converted(
        self, pending: list[pa.RecordBatch], header: HeaderMap
    ) -> Iterator[pa.RecordBatch]:
        self._unconverted = 0
        yield from self._normalized(pa.concat_batches(pending), header)

    def _open_stream(self) -> Any:
        compression = "gzip" if self.format == "csv.gz" else None
        if self.location.startswith("s3://"):
            response = self._s3_get()
            raw = pa.PythonFile(response["Body"], mode="r")
            self._total = response.get("ContentLength")
        else:
            path = self._local_path()
            raw = pa.OSFile(str(path), mode="r")
            self._total = path.stat().st_size
        self._position = raw.tell  # of the stored (compressed) bytes, like the total
        return pa.CompressedInputStream(raw, "gzip") if compression else raw

    def _guard(self, call: Any, *, stop_ok: bool = False) -> Any:
        """Translate Arrow's read errors (bad CSV, truncated gzip) into one line."""
        try:
            return call()
        except StopIteration:
            if stop_ok:
                return None
            raise
        except (pa.ArrowInvalid, OSError, EOFError) as exc:
            if "Empty CSV file" in str(exc):
                return None
            reason = " ".join(str(exc).split())
            if self.format == "csv.gz" and _looks_like_gzip_damage(reason):
                what = "the gzip stream is truncated or corrupt"
                todo = "download or export the file again"
            else:
                what, todo = f"unreadable CSV ({reason[:200]})", "fix the file and ingest it again"
            row = self.rows + self._unconverted + 1
            raise IngestError(self.location, f"{what}; {todo}", row=row) from None

    # --- Parquet ------------------------------------------------------------------------
    def _parquet_batches(self, stack: ExitStack) -> Iterator[pa.RecordBatch]:
        if self.location.startswith("s3://"):
            # Parquet needs random access (the footer is at the end): spool to a temp file.
            handle = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
            bucket, key = _split_s3(self.location)
            self._s3_call(lambda: self.s3_client.download_fileobj(bucket, key, handle))
            handle.seek(0)
            source: Any = handle
        else:
            source = str(self._local_path())
        try:
            parquet = pq.ParquetFile(source)
            self._total, self._position = parquet.metadata.num_rows, lambda: self.rows
            header = self._header(parquet.schema_arrow.names)
            for batch in parquet.iter_batches(batch_size=self.options.batch_rows):
                yield from self._normalized(batch, header)
        except (pa.ArrowInvalid, OSError) as exc:
            reason = " ".join(str(exc).split())[:200]
            raise IngestError(
                self.location,
                f"unreadable Parquet ({reason}); export the file again",
                row=self.rows + 1,
            ) from None

    # --- shared -------------------------------------------------------------------------
    def _header(self, names: list[str]) -> HeaderMap:
        header = map_header(names, path=self.location)
        self.ignored_columns = list(header.ignored)
        return header

    def _normalized(self, batch: pa.RecordBatch, header: HeaderMap) -> Iterator[pa.RecordBatch]:
        first_row = self.rows + 1
        columns: dict[str, pa.Array] = {}
        # The CSV reader already turned empty/NULL/null cells into nulls; Parquet strings did not.
        text = _as_is if self.format != "parquet" else as_text
        for column, index in header.focus.items():
            converter: Any
            if column in _NUMERIC:
                converter = decimal_text
            elif column in _TIMES:
                converter = utc_timestamps
            elif column in _JSONS:
                converter = self._json_checks.setdefault(column, JsonObjectCheck())
            elif column == "billing_currency":
                converter = self._currency
            else:
                converter = text
            columns[column] = convert_column(
                converter,
                batch.column(index),
                path=self.location,
                column=header.headers[column],
                first_row=first_row,
            )
        if "billing_currency" not in columns:
            currency = pa.scalar(self.options.default_currency.upper(), pa.string())
            columns["billing_currency"] = pa.repeat(currency, batch.num_rows)
        provider = columns.get("provider_name")
        fallback = self.options.provider_hint or "unknown"
        columns["provider_name"] = (
            pa.repeat(pa.scalar(fallback, pa.string()), batch.num_rows)
            if provider is None
            else pc.fill_null(provider, fallback)
        )
        for column in REQUIRED:
            missing = pc.index(pc.is_null(columns[column]), True).as_py()
            if missing >= 0:
                raise IngestError(
                    self.location,
                    "the cell is empty but this column needs a value; fix the file",
                    row=first_row + missing,
                    column=header.headers.get(column, display_name(column)),
                )
        extra = {name: batch.column(index) for name, index in header.extra.items()}
        columns["x_extra"] = x_extra_json(extra, batch.num_rows)
        self.rows += batch.num_rows
        yield pa.RecordBatch.from_pydict(columns)

    def _currency(self, array: pa.Array) -> pa.Array:
        return currency_codes(array, default=self.options.default_currency.upper())

    def _local_path(self) -> Path:
        path = Path(self.location).expanduser()
        if not path.is_file():
            raise IngestError(self.location, "no such file; check the path")
        return path

    def _s3_get(self) -> Any:
        bucket, key = _split_s3(self.location)
        return self._s3_call(lambda: self.s3_client.get_object(Bucket=bucket, Key=key))

    def _s3_call(self, call: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        if self.s3_client is None:
            raise SourceError(f"{self.location}: no S3 client was configured")
        try:
            return call()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NoSuchBucket"):
                raise IngestError(
                    self.location, "no such S3 object; check the bucket and key"
                ) from None
            raise SourceError(
                f"{self.location}: S3 refused the request ({code}); check the credentials and "
                "permissions of boto3's default chain"
            ) from None
        except BotoCoreError as exc:
            raise SourceError(
                f"{self.location}: S3 could not be reached ({type(exc).__name__}); check "
                "AWS_ENDPOINT_URL, the network and boto3's credentials"
            ) from None


def _as_is(array: pa.Array) -> pa.Array:
    return array


def _split_s3(location: str) -> tuple[str, str]:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise IngestError(location, "an S3 location must look like s3://bucket/key")
    return bucket, key


def _looks_like_gzip_damage(reason: str) -> bool:
    words = ("gzip", "zlib", "inflate", "truncated", "compressed", "end of stream", "eof")
    return any(word in reason.lower() for word in words)
