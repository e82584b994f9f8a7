"""Azure Cost Management exports -> FOCUS: EA/MCA actual or amortized cost CSV, and FOCUS exports.

An export is a local path or an https URL (a storage SAS URL is fine: its query string is never
logged or shown). A file whose header has ``BilledCost`` and ``ChargePeriodStart`` is a FOCUS
export and goes through :class:`collectors.focus_files.FocusFile` unchanged. Anything else is read
as an EA/MCA cost-details CSV (EA and MCA spell the same columns differently, so headers are
matched case-insensitively through small alias lists) and mapped per the FOCUS converter rules
(``conversion_rules_azure.csv``), with these deliberate differences:

* ChargePeriodStart is the row's ``Date`` (the rules read BillingPeriodStartDate, a bug), and
  period ends are exclusive: the day after the CSV's inclusive end date;
* PricingCategory uses the FOCUS 1.2 values (Standard, Dynamic, Committed, Other);
* actual cost: BilledCost = EffectiveCost = cost (as the rules say). Amortized cost:
  EffectiveCost = cost, and BilledCost = 0 on rows a reservation or savings plan covers, because
  that money was billed when the commitment was bought.

Actual and amortized data for the same account and month in one run would count the same money
twice, so that is refused; use one of them, or the FOCUS export, which carries both.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
from sqlalchemy.engine import Engine

from collectors.base import CollectResult
from collectors.cloud_clients import focus_batch
from collectors.focus_files import FocusFile, FocusOptions
from warehouse.errors import IngestError, InputError, SourceError
from warehouse.load import load_focus_batches

EXPORT_SOURCE = "azure-export"
BATCH_ROWS = 50_000
AZURE = "Microsoft"

# ConsumedService / resource-provider namespace -> ServiceCategory (azure_category_mapping.csv).
_CATEGORY_GROUPS = {
    "Compute": "compute containerinstance containerservice classiccompute avs "
    "desktopvirtualization serialconsole",
    "Storage": "storage storagesync cache datalakestore storagecache classicstorage "
    "containerregistry",
    "AI and Machine Learning": "machinelearningservices cognitiveservices botservice "
    "machinelearning databricks",
    "Networking": "network relay classicnetwork domainregistration",
    "Databases": "dbformysql dbforpostgressql sql sqlvirtualmachine documentdb",
    "Analytics": "synapse datalakeanalytics kusto streamanalytics notebooks hdinsight",
    "Integration": "apimanagement datafactory eventgrid logic servicebus servicefabric eventhub "
    "servicelinker datashare",
    "Web": "appconfiguration search web cdn",
    "Security": "keyvault security securityinsights managedidentity",
    "Identity": "guestconfiguration adhybridhealthservice authorization",
    "Management and Governance": "insights operationalinsights recoveryservices "
    "operationsmanagement changeanalysis costmanagementexports policyinsights blueprint "
    "advisor alertsmanagement costmanagement resourcehealth resourcenotifications",
    "Developer Tools": "loadtestservice automation maps diagnostics devtestlab visualstudio "
    "resourcegraph",
    "Internet of Things": "digitaltwins mixedreality iotsecurity",
    "Migration": "migrate datamigration offazure",
    "Media": "media",
}
SERVICE_CATEGORY: dict[str, str] = {
    f"microsoft.{name}": category
    for category, names in _CATEGORY_GROUPS.items()
    for name in names.split()
}
SERVICE_CATEGORY["microsoft.virtual network"] = "Networking"  # sic: a space in the mapping file

COMMITMENT_MODELS = {"reservation": "Reservation", "savingsplan": "Savings Plan"}
_CHARGE_CATEGORY = {
    "usage": "Usage",
    "purchase": "Purchase",
    "tax": "Tax",
    "unusedreservation": "Usage",
    "unusedsavingsplan": "Usage",
}
_FREQUENCY = {"onetime": "One-Time", "recurring": "Recurring", "usagebased": "Usage-Based"}


def service_category(namespace: str | None) -> str:
    return SERVICE_CATEGORY.get((namespace or "").strip().lower(), "Other")


def namespace_of(resource_id: str | None) -> str | None:
    """``/subscriptions/../providers/Microsoft.Compute/virtualMachines/x`` -> microsoft.compute."""
    parts = (resource_id or "").split("/")
    lowered = [part.lower() for part in parts]
    if "providers" not in lowered:
        return None
    index = len(lowered) - 1 - lowered[::-1].index("providers")
    return lowered[index + 1] if index + 1 < len(parts) else None


def charge_category(charge_type: str | None) -> str:
    return _CHARGE_CATEGORY.get((charge_type or "usage").strip().lower(), "Adjustment")


def is_commitment(pricing_model: str | None) -> bool:
    return _squash(pricing_model) in COMMITMENT_MODELS


def pricing_category(pricing_model: str | None, category: str) -> str | None:
    model = _squash(pricing_model)
    if not model:
        return None
    if model == "ondemand":
        return "Standard"
    if model == "spot":
        return "Dynamic"
    if model in COMMITMENT_MODELS:
        return "Standard" if category == "Purchase" else "Committed"
    return "Other"


def _squash(text: str | None) -> str:
    return (text or "").replace(" ", "").strip().lower().removesuffix("s")


def month_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC)


def next_month(moment: dt.datetime) -> dt.datetime:
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)


# --- reading one export -------------------------------------------------------------------------

_ALIASES: dict[str, tuple[str, ...]] = {
    "cost": ("costinbillingcurrency", "cost", "pretaxcost"),
    "currency": ("billingcurrencycode", "billingcurrency", "currency"),
    "date": ("date", "usagedate"),
    "period_start": ("billingperiodstartdate", "billingperiodstart"),
    "period_end": ("billingperiodenddate", "billingperiodend"),
    "description": ("productname", "product"),
    "charge_type": ("chargetype",),
    "frequency": ("frequency", "chargefrequency"),
    "pricing_model": ("pricingmodel",),
    "benefit_id": ("benefitid", "reservationid"),
    "benefit_name": ("benefitname", "reservationname"),
    "quantity": ("quantity",),
    "unit": ("unitofmeasure",),
    "consumed_service": ("consumedservice",),
    "meter_category": ("metercategory",),
    "meter_name": ("metername",),
    "resource_group": ("resourcegroup", "resourcegroupname"),
    "tags": ("tags",),
}
_DIRECT = {  # warehouse column <- CSV column (case-insensitive)
    "billing_account_id": "billingaccountid",
    "billing_account_name": "billingaccountname",
    "sub_account_id": "subscriptionid",
    "sub_account_name": "subscriptionname",
    "resource_id": "resourceid",
    "resource_name": "resourcename",
    "region_id": "resourcelocation",
    "availability_zone": "availabilityzone",
    "publisher_name": "publishername",
}


class CostDetailsRows:
    """Rows of one EA/MCA cost-details CSV as warehouse dicts; ``kind`` is actual|amortized."""

    def __init__(self, path: Path, *, label: str, kind: str) -> None:
        self.path, self.label, self.kind = path, label, kind
        self.rows = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with _open_text(self.path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise IngestError(self.label, "the file is empty; expected an Azure cost header")
            index = {name.strip().lower(): i for i, name in enumerate(header)}
            columns = {key: _find(index, names) for key, names in _ALIASES.items()}
            for needed in ("cost", "date"):
                if columns[needed] is None:
                    raise IngestError(
                        self.label,
                        f"no {_ALIASES[needed][0]} column; export Azure cost details "
                        "(actual or amortized) or FOCUS",
                    )
            direct = {target: index.get(source) for target, source in _DIRECT.items()}
            for number, cells in enumerate(reader, start=1):
                if not any(cells):
                    continue
                self.rows = number
                yield self._row(cells, columns, direct, number)

    def _row(
        self,
        cells: Sequence[str],
        columns: Mapping[str, int | None],
        direct: Mapping[str, int | None],
        number: int,
    ) -> dict[str, Any]:
        def cell(key: str) -> str | None:
            position = columns[key]
            value = cells[position].strip() if position is not None else ""
            return value or None

        row: dict[str, Any] = {}
        for target, position in direct.items():
            value = cells[position].strip() if position is not None else ""
            row[target] = value or None
        cost = self._decimal(cell("cost"), number, "cost")
        category = charge_category(cell("charge_type"))
        model = cell("pricing_model")
        covered = self.kind == "amortized" and is_commitment(model) and category == "Usage"
        day = self._date(cell("date"), number, "Date")
        start = self._date(cell("period_start"), number, "BillingPeriodStartDate")
        end = self._date(cell("period_end"), number, "BillingPeriodEndDate")
        period_start = start if start is not None else month_start(day)
        benefit = cell("benefit_id")
        namespace = (cell("consumed_service") or namespace_of(row["resource_id"]) or "").lower()
        row |= {
            "billed_cost": Decimal(0) if covered else cost,
            "effective_cost": cost,
            "billing_currency": (cell("currency") or "USD").upper(),
            "charge_period_start": day,
            "charge_period_end": day + dt.timedelta(days=1),
            "billing_period_start": period_start,
            "billing_period_end": end + dt.timedelta(days=1) if end else next_month(period_start),
            "charge_category": category,
            "charge_class": None,
            "charge_frequency": _FREQUENCY.get(_squash(cell("frequency") or "UsageBased"), "Other"),
            "charge_description": cell("description"),
            "pricing_category": pricing_category(model, category),
            "commitment_discount_id": benefit,
            "commitment_discount_name": cell("benefit_name"),
            "commitment_discount_type": COMMITMENT_MODELS.get(_squash(model)) if benefit else None,
            "commitment_discount_category": _commitment_category(benefit),
            "consumed_quantity": self._decimal(cell("quantity"), number, "Quantity", empty=True),
            "consumed_unit": cell("unit"),
            "service_name": cell("consumed_service"),
            "service_category": service_category(namespace),
            "sku_meter": cell("meter_name"),
            "provider_name": AZURE,
            "invoice_issuer_name": AZURE,
            "publisher_name": row["publisher_name"] or AZURE,
            "tags": self._tags(cell("tags"), number),
            "x_extra": {
                key: value
                for key, value in (
                    ("x_MeterCategory", cell("meter_category")),
                    ("x_PricingModel", model),
                    ("x_ResourceGroup", cell("resource_group")),
                    ("x_CostDataset", self.kind),
                )
                if value
            },
        }
        return row

    def _decimal(
        self, text: str | None, row: int, column: str, *, empty: bool = False
    ) -> Decimal | None:
        if text is None:
            if empty:
                return None
            raise IngestError(self.label, "the cost is empty; fix the file", row=row, column=column)
        try:
            return Decimal(text)
        except InvalidOperation:
            raise IngestError(
                self.label, f"{text!r} is not a number; fix the file", row=row, column=column
            ) from None

    def _date(self, text: str | None, row: int, column: str) -> Any:
        if text is None:
            if column == "Date":
                raise IngestError(self.label, "the date is empty", row=row, column=column)
            return None
        for pattern in ("%m/%d/%Y", "%Y-%m-%d", "%Y%m%d", "%Y-%m-%dT%H:%M:%S%z"):
            try:
                parsed = dt.datetime.strptime(text.replace("Z", "+0000"), pattern)  # noqa: DTZ007 - UTC below
            except ValueError:
                continue
            return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed
        raise IngestError(
            self.label, f"{text!r} is not a date (MM/DD/YYYY or YYYY-MM-DD)", row=row, column=column
        )

    def _tags(self, text: str | None, row: int) -> dict[str, Any] | None:
        """Azure writes tags as ``"k": "v","k2": "v2"`` (no braces) or as a JSON object."""
        if text is None:
            return None
        body = text if text.lstrip().startswith("{") else "{" + text + "}"
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            raise IngestError(
                self.label,
                "tags are not JSON key/value pairs; fix the cell",
                row=row,
                column="Tags",
            ) from None
        return parsed if isinstance(parsed, dict) and parsed else None


def _find(index: Mapping[str, int], names: Sequence[str]) -> int | None:
    return next((index[name] for name in names if name in index), None)


def _commitment_category(benefit_id: str | None) -> str | None:
    lowered = (benefit_id or "").lower()
    if "/microsoft.capacity/" in lowered:
        return "Usage"
    if "/microsoft.billingbenefits/" in lowered:
        return "Spend"
    return None


# --- locations, kinds and the delivery ----------------------------------------------------------


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


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return path.open(newline="", encoding="utf-8-sig")


def _is_focus(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True  # Azure writes Parquet for FOCUS exports only
    with _open_text(path) as handle:
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
