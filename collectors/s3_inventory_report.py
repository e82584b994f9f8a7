"""Reading S3 Inventory reports: the newest CSV report of a bucket, object by object.

AWS delivers a report to the destination bucket as::

    {destination-prefix/}{source-bucket}/{config-id}/YYYY-MM-DDTHH-MMZ/manifest.json
    {destination-prefix/}{source-bucket}/{config-id}/data/<uuid>.csv.gz

The manifest names the data files (``files[].key``), their columns (``fileSchema``, e.g.
``"Bucket, Key, Size, LastModifiedDate, StorageClass"``), the format and ``creationTimestamp``
(milliseconds since the epoch). Data files are gzipped CSV without a header row, and keys in
them are URL-encoded.

Only configurations the roll-up can trust are used: enabled, CSV, no prefix filter (a filtered
report misses objects), and Size, LastModifiedDate and StorageClass among the optional fields.
Anything else falls back to listing. Only current objects are counted: noncurrent versions and
delete markers in an all-versions report are skipped.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import io
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from warehouse.errors import SourceError

REQUIRED_FIELDS = ("Size", "LastModifiedDate", "StorageClass")
_REPORT_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z/$")


@dataclasses.dataclass(frozen=True, slots=True)
class S3Object:
    key: str
    size: int
    last_modified: dt.datetime
    storage_class: str


@dataclasses.dataclass(frozen=True, slots=True)
class InventoryReport:
    s3: Any
    destination_bucket: str
    manifest_key: str
    created_at: dt.datetime
    columns: tuple[str, ...]
    files: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"inventory:s3://{self.destination_bucket}/{self.manifest_key}"

    def objects(self) -> Iterator[S3Object]:
        """Every current object the report lists, file by file (streamed, not held)."""
        for key in self.files:
            body = self.s3.get_object(Bucket=self.destination_bucket, Key=key)["Body"]
            try:
                text = io.TextIOWrapper(gzip.GzipFile(fileobj=body), encoding="utf-8", newline="")
                for line, row in enumerate(csv.reader(text), start=1):
                    item = self._object(row, f"s3://{self.destination_bucket}/{key}", line)
                    if item is not None:
                        yield item
            except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
                raise SourceError(
                    f"inventory report s3://{self.destination_bucket}/{key}: unreadable "
                    f"({' '.join(str(exc).split())}); wait for the next report or disable it"
                ) from None

    def _object(self, row: list[str], where: str, line: int) -> S3Object | None:
        if len(row) != len(self.columns):
            raise SourceError(
                f"inventory report {where}, line {line}: {len(row)} values for the "
                f"{len(self.columns)} columns of its manifest; the report is damaged"
            )
        value = dict(zip(self.columns, row, strict=True))
        if value.get("IsDeleteMarker") == "true" or value.get("IsLatest") == "false":
            return None
        try:
            return S3Object(
                key=unquote_plus(value["Key"]),
                size=int(value["Size"]),
                last_modified=_timestamp(value["LastModifiedDate"]),
                storage_class=value["StorageClass"] or "STANDARD",
            )
        except ValueError as exc:
            raise SourceError(f"inventory report {where}, line {line}: {exc}") from None


def usable_configurations(s3: Any, bucket: str) -> list[Mapping[str, Any]]:
    """The bucket's inventory configurations whose reports the roll-up can trust.

    Each is read back with GetBucketInventoryConfiguration: AWS answers List and Get alike, but
    moto's List answer garbles OptionalFields, and one Get per configuration costs nothing.
    An inventory of all versions is fine: its reports carry IsLatest and IsDeleteMarker, and
    only current objects are counted.
    """
    usable = []
    token: str | None = None
    while True:
        extra = {"ContinuationToken": token} if token else {}
        page = s3.list_bucket_inventory_configurations(Bucket=bucket, **extra)
        for listed in page.get("InventoryConfigurationList", []):
            config = s3.get_bucket_inventory_configuration(Bucket=bucket, Id=listed["Id"])[
                "InventoryConfiguration"
            ]
            destination = config.get("Destination", {}).get("S3BucketDestination", {})
            if (
                config.get("IsEnabled")
                and destination.get("Format") == "CSV"
                and not (config.get("Filter") or {}).get("Prefix")
                and set(REQUIRED_FIELDS) <= set(config.get("OptionalFields", []))
            ):
                usable.append(config)
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return usable


def latest_inventory_report(s3: Any, bucket: str) -> InventoryReport | None:
    """The newest delivered report of any usable configuration, or None (then: list)."""
    reports = []
    for config in usable_configurations(s3, bucket):
        destination = config["Destination"]["S3BucketDestination"]
        target = str(destination["Bucket"]).split(":::")[-1]  # an ARN, arn:aws:s3:::name
        parts = (str(destination.get("Prefix") or "").strip("/"), bucket, str(config["Id"]))
        base = "/".join(part for part in parts if part) + "/"
        for folder in _report_folders(s3, target, base):
            report = _read_manifest(s3, target, f"{folder}manifest.json")
            if report is not None:
                reports.append(report)
                break
    return max(reports, key=lambda report: report.created_at, default=None)


def _report_folders(s3: Any, bucket: str, base: str) -> list[str]:
    """``base/YYYY-MM-DDTHH-MMZ/`` folders, newest first (the names sort by time)."""
    folders = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base, Delimiter="/")
    for page in pages:
        for common in page.get("CommonPrefixes", []):
            if _REPORT_FOLDER.search(common["Prefix"]):
                folders.append(common["Prefix"])
    return sorted(folders, reverse=True)


def _read_manifest(s3: Any, bucket: str, key: str) -> InventoryReport | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None  # a report still being written has no manifest yet
        raise
    where = f"inventory manifest s3://{bucket}/{key}"
    try:
        manifest = json.loads(body)
        file_format = manifest["fileFormat"]
        columns = tuple(name.strip() for name in str(manifest["fileSchema"]).split(","))
        files = tuple(str(entry["key"]) for entry in manifest["files"])
        created_ms = int(manifest["creationTimestamp"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"{where}: not a valid manifest ({exc!r}); check the report") from None
    if file_format != "CSV":
        raise SourceError(f"{where}: format {file_format} is not read; configure CSV reports")
    missing = [name for name in ("Key", *REQUIRED_FIELDS) if name not in columns]
    if missing:
        raise SourceError(
            f"{where}: no {', '.join(missing)} column; add it to the inventory's optional fields"
        )
    created_at = dt.datetime.fromtimestamp(created_ms // 1000, tz=dt.UTC) + dt.timedelta(
        milliseconds=created_ms % 1000
    )
    destination = str(manifest.get("destinationBucket") or bucket).split(":::")[-1]
    return InventoryReport(s3, destination, key, created_at, columns, files)


def _timestamp(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"LastModifiedDate {text!r} has no time zone")
    return moment.astimezone(dt.UTC)
