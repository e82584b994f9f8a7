"""``nvidia-smi`` output files -> samples -> ``gpu_hourly`` (source ``nvml``).

Two formats are read, told apart by their first bytes:

* ``nvidia-smi --query-gpu=... --format=csv`` (optionally ``-l N`` for a log of many rows):
  the header carries units, ``utilization.gpu [%]``, ``memory.used [MiB]``, ``power.draw [W]``,
  and so do the values (``100 %``, ``19818 MiB``). ``nounits`` files are read with nvidia-smi's
  own units. ``[N/A]`` and other bracketed words mean "not reported" (MIG utilization).
* ``nvidia-smi -q -x`` XML: one snapshot of every GPU, stamped by ``<timestamp>``.

Timestamps come from the file (``timestamp`` column or ``<timestamp>``), else from ``--at``.
nvidia-smi writes the host's local time without a zone; spendwatch reads it as UTC, so run the
capture on a UTC host (cloud GPU images are) or pass ``--at``. The resource is
``--resource-id``, else the file's ``hostname`` column.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from sqlalchemy.engine import Engine

from collectors.gpu_rollup import GpuSample, hourly_rollup
from warehouse.errors import IngestError
from warehouse.load_gpu import load_gpu_hourly
from warehouse.runs import fail_run, finish_run, start_run

SOURCE = "nvml"
RUN_SOURCE = "nvidia-smi-file"  # collector_runs name for `spendwatch ingest nvidia-smi`
MIB = 1024 * 1024
_HEADER = re.compile(r"^(?P<name>[^\[]+?)\s*(?:\[(?P<unit>[^\]]*)\])?$")
_NUMBER = re.compile(r"^(?P<number>-?\d+(?:\.\d+)?)\s*(?P<unit>%|MiB|W)?$")
_CSV_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S")
_EXPECTED_UNITS = {"utilization.gpu": "%", "memory.used": "MiB", "memory.total": "MiB"}


@dataclasses.dataclass(frozen=True, slots=True)
class NvidiaSmiIngest:
    path: str
    format: str  # csv | xml
    samples: int
    rows: int  # gpu_hourly rows written


def ingest_nvidia_smi_file(
    engine: Engine,
    path: str | Path,
    *,
    resource_id: str | None = None,
    at: dt.datetime | None = None,
) -> NvidiaSmiIngest:
    """Parse the whole file first, then load its hours in one transaction.

    Each call is recorded in ``collector_runs`` (source ``nvidia-smi-file``), failures included,
    so Data health shows ad-hoc loads next to the scheduled collectors.
    """
    shown = str(path)
    started = dt.datetime.now(dt.UTC)
    run_id = start_run(engine, RUN_SOURCE, window_start=None, window_end=None, now=started)
    try:
        kind, samples = _parse_file(path, shown=shown, resource_id=resource_id, at=at)
        rows = hourly_rollup(samples, source=SOURCE)
        with engine.begin() as connection:
            written = load_gpu_hourly(connection, rows)
    except Exception as exc:
        fail_run(engine, run_id, error=" ".join(str(exc).split()), details={"file": shown})
        raise
    finish_run(
        engine,
        run_id,
        rows=written,
        watermark=None,  # a file is a one-off load, not a position in a stream
        details={"file": shown, "format": kind, "samples": len(samples)},
    )
    return NvidiaSmiIngest(shown, kind, len(samples), written)


def _parse_file(
    path: str | Path, *, shown: str, resource_id: str | None, at: dt.datetime | None
) -> tuple[str, list[GpuSample]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(
            shown, f"cannot read it ({exc}); pass an nvidia-smi output file"
        ) from None
    if at is not None and at.tzinfo is None:
        raise IngestError(shown, "--at has no time zone; give it in UTC")
    head = text.lstrip()[:200]
    if head.startswith("<?xml") or head.startswith("<nvidia_smi_log"):
        return "xml", (parse_xml(text, path=shown, resource_id=resource_id, at=at))
    return "csv", (parse_csv(text, path=shown, resource_id=resource_id, at=at))


def _missing(value: str) -> bool:
    # "[N/A]", "N/A", "[Not Supported]", "[Requested functionality has been deprecated]", ...
    return not value or value.startswith("[") or value in ("N/A", "Not Supported")


def _number(value: str, *, path: str, row: int, column: str) -> float | None:
    value = value.strip()
    if _missing(value):
        return None
    match = _NUMBER.match(value)
    if not match:
        raise IngestError(path, f"{value!r} is not a number", row=row, column=column)
    return float(match["number"])


def _csv_time(value: str, *, path: str, row: int) -> dt.datetime:
    for pattern in _CSV_TIME_FORMATS:
        try:
            return dt.datetime.strptime(value.strip(), pattern).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise IngestError(
        path,
        f"timestamp {value!r} is not like 2026/07/14 08:12:38.696",
        row=row,
        column="timestamp",
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _CsvRow:
    path: str
    number: int
    cells: dict[str, str]  # column name (without unit) -> stripped text

    def text(self, name: str) -> str | None:
        value = self.cells.get(name, "")
        return None if _missing(value) else value

    def value(self, name: str) -> float | None:
        return _number(self.cells.get(name, ""), path=self.path, row=self.number, column=name)

    def sample(self, *, resource_id: str | None, at: dt.datetime | None) -> GpuSample:
        resource = resource_id or self.text("hostname")
        if not resource:
            raise IngestError(self.path, "hostname is [N/A]; pass --resource-id", row=self.number)
        gpu_id = self.text("uuid") or self.text("index")
        if not gpu_id:
            raise IngestError(self.path, "no uuid or index for this GPU", row=self.number)
        stamp = at
        if "timestamp" in self.cells:
            stamp = _csv_time(self.cells["timestamp"], path=self.path, row=self.number)
        if stamp is None:
            raise IngestError(self.path, "no timestamp; pass --at", row=self.number)
        used, total = self.value("memory.used"), self.value("memory.total")
        return GpuSample(
            resource_id=resource,
            gpu_id=gpu_id,
            at=stamp,
            util_percent=self.value("utilization.gpu"),
            mem_used_bytes=None if used is None else round(used * MIB),
            mem_total_bytes=None if total is None else round(total * MIB),
            power_watts=self.value("power.draw"),
            gpu_model=self.text("name"),
        )


def parse_csv(
    text: str, *, path: str, resource_id: str | None, at: dt.datetime | None
) -> list[GpuSample]:
    records = [r for r in csv.reader(io.StringIO(text), skipinitialspace=True) if any(r)]
    if not records:
        raise IngestError(path, "empty file; pass nvidia-smi --query-gpu=... --format=csv output")
    header = [cell.strip() for cell in records[0]]
    columns: dict[str, int] = {}
    for position, cell in enumerate(header):
        match = _HEADER.match(cell)
        name, unit = (match["name"], match["unit"]) if match else (cell, None)
        expected = _EXPECTED_UNITS.get(name)
        if expected and unit and unit != expected:
            raise IngestError(path, f"unit [{unit}], expected [{expected}]", row=1, column=cell)
        columns[name] = position
    if "uuid" not in columns and "index" not in columns:
        raise IngestError(
            path,
            "no uuid or index column; is this nvidia-smi --query-gpu=... --format=csv "
            "output (with its header, not noheader)?",
        )
    if "utilization.gpu" not in columns and "memory.used" not in columns:
        raise IngestError(path, "neither utilization.gpu nor memory.used is queried; add them")
    if "timestamp" not in columns and at is None:
        raise IngestError(path, "no timestamp column; pass --at or query timestamp too")
    if not resource_id and "hostname" not in columns:
        raise IngestError(path, "no hostname column; pass --resource-id")
    samples = []
    for number, record in enumerate(records[1:], start=2):
        if [cell.strip() for cell in record] == header:
            continue  # `nvidia-smi -l` logs may repeat the header
        if len(record) != len(header):
            raise IngestError(
                path, f"{len(record)} fields, header has {len(header)}; file cut short?", row=number
            )
        row = _CsvRow(path, number, {name: record[i].strip() for name, i in columns.items()})
        samples.append(row.sample(resource_id=resource_id, at=at))
    if not samples:
        raise IngestError(path, "a header but no GPU rows")
    return samples


def _xml_number(node: ET.Element | None, *, path: str, where: str) -> float | None:
    text = (node.text or "").strip() if node is not None else ""
    if _missing(text):
        return None
    match = _NUMBER.match(text)
    if not match:
        raise IngestError(path, f"<{where}> {text!r} is not a number")
    return float(match["number"])


def parse_xml(
    text: str, *, path: str, resource_id: str | None, at: dt.datetime | None
) -> list[GpuSample]:
    try:
        root = ET.fromstring(text)  # a local file the operator chose to load
    except ET.ParseError as exc:
        raise IngestError(
            path, f"not well-formed XML ({exc}); pass nvidia-smi -q -x output"
        ) from None
    if root.tag != "nvidia_smi_log":
        raise IngestError(path, f"root element <{root.tag}>, expected <nvidia_smi_log>")
    if not resource_id:
        raise IngestError(path, "nvidia-smi XML names no host; pass --resource-id")
    stamp = at
    raw = (root.findtext("timestamp") or "").strip()
    if raw:
        try:  # ctime style: "Fri Aug  4 11:44:30 2023"
            stamp = dt.datetime.strptime(" ".join(raw.split()), "%a %b %d %H:%M:%S %Y").replace(
                tzinfo=dt.UTC
            )
        except ValueError:
            raise IngestError(
                path, f"<timestamp> {raw!r} is not like 'Fri Aug 4 11:44:30 2023'"
            ) from None
    if stamp is None:
        raise IngestError(path, "no <timestamp>; pass --at")
    samples = []
    for gpu in root.findall("gpu"):
        gpu_id = (gpu.findtext("uuid") or gpu.get("id") or "").strip()
        if not gpu_id:
            raise IngestError(path, "a <gpu> without <uuid> or id")
        # Direct children only: MIG slices carry their own fb_memory_usage further down.
        used = _xml_number(gpu.find("fb_memory_usage/used"), path=path, where="used")
        total = _xml_number(gpu.find("fb_memory_usage/total"), path=path, where="total")
        power = gpu.find("gpu_power_readings/power_draw")
        if power is None:
            power = gpu.find("power_readings/power_draw")  # schema v11 and older
        samples.append(
            GpuSample(
                resource_id=resource_id,
                gpu_id=gpu_id,
                at=stamp,
                util_percent=_xml_number(
                    gpu.find("utilization/gpu_util"), path=path, where="gpu_util"
                ),
                mem_used_bytes=None if used is None else round(used * MIB),
                mem_total_bytes=None if total is None else round(total * MIB),
                power_watts=_xml_number(power, path=path, where="power_draw"),
                gpu_model=(gpu.findtext("product_name") or "").strip() or None,
            )
        )
    if not samples:
        raise IngestError(path, "no <gpu> elements; pass nvidia-smi -q -x output")
    return samples
