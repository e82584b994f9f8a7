"""AWS billing exports in S3 (Data Exports FOCUS and CUR 2.0, legacy CUR) into the warehouse.

Layouts, as AWS writes them (``root`` is ``{prefix}/{name}/``):

* Data Exports (``focus``, ``cur2``): data under ``root/data/BILLING_PERIOD=YYYY-MM/``, and
  ``root/metadata/BILLING_PERIOD=YYYY-MM/{name}-Manifest.json`` whose ``dataFiles`` lists the
  current delivery's files (``s3://`` URIs);
* legacy CUR (``cur-legacy``): ``root/YYYYMMDD-YYYYMMDD/{name}-Manifest.json`` whose
  ``reportKeys`` lists the current assembly's files (keys), which sit in that folder or in an
  assembly-id folder below it.

One paginated listing of ``root`` finds every billing period and the ETag of each of its objects.
A period is loaded only when that set of (key, ETag) differs from the one its last successful load
recorded (in the load's ``collector_runs.details``), and only if it falls in the window: each run
re-checks the current and the previous month, which AWS keeps re-delivering until they are final.
All files of a period go into ONE ``load_focus_batches`` call, so a re-delivered month replaces
the old one for its billing account atomically. Rows carry ``x_source = 'aws-export'``.

Exports win over Cost Explorer: an export load replaces whole (billing account, month) pairs,
Cost Explorer rows included, and the Cost Explorer collector skips what exports cover.

A broken export (missing bucket, access denied, bad file) does not stop the others; the run then
fails with one line naming it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import Engine

from collectors.aws_clients import aws_client, explain
from collectors.base import CollectResult
from collectors.cur_to_focus import CurFile
from collectors.focus_files import FocusFile, FocusOptions
from warehouse.errors import IngestError, SourceError, SpendwatchError
from warehouse.load import load_focus_batches
from warehouse.schema import collector_runs

if TYPE_CHECKING:
    from spendwatch.config import Settings

SOURCE = "aws_exports"
LOAD_SOURCE = "aws-export"  # x_source of the rows, and the source of each delivery's load run
DATA_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet", ".snappy.parquet")
_DATA_EXPORT = re.compile(r"^(metadata|data)/BILLING_PERIOD=(\d{4})-(\d{2})/(.+)$")
_LEGACY = re.compile(r"^(\d{4})(\d{2})01-\d{8}/(.+)$")

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class ExportSpec:
    bucket: str
    name: str
    prefix: str = ""
    format: str = "focus"  # focus | cur2 | cur-legacy

    @property
    def root(self) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/{self.name}/" if prefix else f"{self.name}/"

    @property
    def label(self) -> str:
        return f"s3://{self.bucket}/{self.root}"


@dataclasses.dataclass
class PeriodDelivery:
    """What S3 holds for one billing period of one export."""

    period: str  # YYYY-MM
    start: dt.datetime
    manifest_key: str | None = None
    objects: dict[str, str] = dataclasses.field(default_factory=dict)  # key -> ETag


class _Counter:
    def __init__(self) -> None:
        self.requests = 0


def _month_start(moment: dt.datetime) -> dt.datetime:
    moment = moment.astimezone(dt.UTC)
    return dt.datetime(moment.year, moment.month, 1, tzinfo=dt.UTC)


def _previous_month(start: dt.datetime) -> dt.datetime:
    return (start - dt.timedelta(days=1)).replace(day=1)


def discover(s3: Any, export: ExportSpec, *, counter: _Counter) -> dict[str, PeriodDelivery]:
    """Every billing period under the export's root, with the ETags of all its objects."""
    periods: dict[str, PeriodDelivery] = {}
    manifest_name = f"{export.name}-Manifest.json"
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=export.bucket, Prefix=export.root
    ):
        counter.requests += 1
        for item in page.get("Contents", []):
            key: str = item["Key"]
            relative = key[len(export.root) :]
            if export.format == "cur-legacy":
                match = _LEGACY.match(relative)
                if match is None:
                    continue
                year, month, rest = match.groups()
                is_manifest = rest == manifest_name
            else:
                match = _DATA_EXPORT.match(relative)
                if match is None:
                    continue
                folder, year, month, rest = match.groups()
                is_manifest = folder == "metadata" and rest == manifest_name
            period = f"{year}-{month}"
            delivery = periods.setdefault(
                period,
                PeriodDelivery(period, dt.datetime(int(year), int(month), 1, tzinfo=dt.UTC)),
            )
            delivery.objects[key] = str(item.get("ETag", "")).strip('"')
            if is_manifest:
                delivery.manifest_key = key
    return periods


def data_keys(
    s3: Any, export: ExportSpec, delivery: PeriodDelivery, *, counter: _Counter
) -> list[str]:
    """The keys of the period's current files: the manifest's list, else every data file."""
    if delivery.manifest_key is None:
        keys = [
            key
            for key in delivery.objects
            if key.lower().endswith(DATA_SUFFIXES) and "/metadata/" not in f"/{key}"
        ]
        return sorted(keys)
    counter.requests += 1
    body = s3.get_object(Bucket=export.bucket, Key=delivery.manifest_key)["Body"].read()
    where = f"s3://{export.bucket}/{delivery.manifest_key}"
    try:
        manifest = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IngestError(where, "the manifest is not JSON; wait for the next delivery") from None
    listed = manifest.get("reportKeys") if export.format == "cur-legacy" else None
    if listed is None:
        listed = manifest.get("dataFiles", manifest.get("reportKeys"))
    if not isinstance(listed, list):
        raise IngestError(where, "the manifest lists no dataFiles/reportKeys; check the export")
    keys = []
    for entry in listed:
        key = str(entry)
        if key.startswith("s3://"):
            key = key.removeprefix("s3://").partition("/")[2]
        if key not in delivery.objects:
            raise IngestError(
                where,
                f"the manifest names {key}, which is not in the bucket; the delivery may still "
                "be in progress, so run again later",
            )
        keys.append(key)
    return keys


def loaded_fingerprints(
    engine: Engine, *, since: dt.datetime
) -> dict[tuple[str, str], dict[str, str]]:
    """(export label, period) -> the ETags its latest successful load recorded."""
    query = (
        sa.select(collector_runs.c.details)
        .where(
            collector_runs.c.source == LOAD_SOURCE,
            collector_runs.c.status == "succeeded",
            sa.or_(collector_runs.c.window_start >= since, collector_runs.c.window_start.is_(None)),
        )
        .order_by(collector_runs.c.id)
    )
    state: dict[tuple[str, str], dict[str, str]] = {}
    with engine.connect() as connection:
        for (details,) in connection.execute(query):
            if isinstance(details, dict) and "export" in details and "billing_period" in details:
                state[(details["export"], details["billing_period"])] = details.get("files") or {}
    return state


class AwsExportsCollector:
    """``spendwatch collect aws_exports``: every configured export, changed periods only."""

    name = SOURCE
    loads = "cost_line_items"
    natural_key: tuple[str, ...] = ("billing_account_id", "billing_period_start")
    lookback = dt.timedelta(0)  # the window's month and the one before are always re-checked

    def __init__(
        self,
        s3: Any,
        exports: Sequence[ExportSpec],
        *,
        initial_window: dt.timedelta = dt.timedelta(days=365),
        batch_rows: int = 65_536,
    ) -> None:
        self.s3 = s3
        self.exports = list(exports)
        self.initial_window = initial_window
        self.batch_rows = batch_rows

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsExportsCollector:
        aws = settings.aws
        s3 = aws_client(
            "s3", region=aws.region, retry_mode=aws.retry_mode, max_attempts=aws.max_attempts
        )
        exports = [
            ExportSpec(bucket=e.bucket, name=e.name, prefix=e.prefix, format=e.format)
            for e in aws.exports
        ]
        return cls(s3, exports, initial_window=dt.timedelta(days=aws.exports_initial_days))

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        first = _previous_month(_month_start(since))
        loaded = loaded_fingerprints(engine, since=first)
        counter = _Counter()
        rows = 0
        report: dict[str, Any] = {}
        failures: list[str] = []
        for export in self.exports:
            outcome: dict[str, Any] = {"loaded": {}, "unchanged": []}
            report[export.label] = outcome
            try:
                periods = discover(self.s3, export, counter=counter)
            except (BotoCoreError, ClientError) as exc:
                failures.append(f"{export.label}: listing failed, {explain(exc)}")
                outcome["error"] = failures[-1]
                continue
            for delivery in sorted(periods.values(), key=lambda d: d.start):
                if not first <= delivery.start < until:
                    continue
                if loaded.get((export.label, delivery.period)) == delivery.objects:
                    outcome["unchanged"].append(delivery.period)
                    continue
                try:
                    count = self._load(engine, export, delivery, counter=counter)
                except (BotoCoreError, ClientError) as exc:
                    failures.append(f"{export.label} {delivery.period}: {explain(exc)}")
                except SpendwatchError as exc:
                    failures.append(f"{export.label} {delivery.period}: {exc}")
                else:
                    outcome["loaded"][delivery.period] = count
                    rows += count
                    continue
                outcome["error"] = failures[-1]
        if failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise SourceError(f"{SOURCE}: {failures[0]}{more}")
        details = {"s3_requests": counter.requests, "exports": report}
        return CollectResult(rows=rows, watermark=until, details=details)

    def _load(
        self, engine: Engine, export: ExportSpec, delivery: PeriodDelivery, *, counter: _Counter
    ) -> int:
        keys = data_keys(self.s3, export, delivery, counter=counter)
        counter.requests += len(keys)
        result = load_focus_batches(
            engine,
            self._batches(export, keys),
            source=LOAD_SOURCE,
            details={
                "export": export.label,
                "format": export.format,
                "billing_period": delivery.period,
                "files": delivery.objects,
                "data_files": keys,
            },
        )
        log.info(
            "%s %s: %d rows from %d files (%d replaced)",
            export.label,
            delivery.period,
            result.rows,
            len(keys),
            result.replaced_rows,
        )
        return result.rows

    def _batches(self, export: ExportSpec, keys: Sequence[str]) -> Iterator[Any]:
        options = FocusOptions(provider_hint="AWS", batch_rows=self.batch_rows)
        reader = FocusFile if export.format == "focus" else CurFile
        for key in keys:
            yield from reader(f"s3://{export.bucket}/{key}", options=options, s3_client=self.s3)
