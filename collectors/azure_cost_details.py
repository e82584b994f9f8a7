"""One EA/MCA cost-details CSV (actual or amortized) as FOCUS warehouse rows.

EA and MCA spell the same columns differently, so headers are matched case-insensitively
through small alias lists, and rows are mapped per the FOCUS converter rules
(``conversion_rules_azure.csv``), with these deliberate differences:

* ChargePeriodStart is the row's ``Date`` (the rules read BillingPeriodStartDate, a bug), and
  period ends are exclusive: the day after the CSV's inclusive end date;
* PricingCategory uses the FOCUS 1.2 values (Standard, Dynamic, Committed, Other);
* actual cost: BilledCost = EffectiveCost = cost (as the rules say). Amortized cost:
  EffectiveCost = cost, and BilledCost = 0 on rows a reservation or savings plan covers, because
  that money was billed when the commitment was bought.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from collectors.azure_focus_values import (
    AZURE,
    COMMITMENT_MODELS,
    FREQUENCY,
    charge_category,
    is_commitment,
    month_start,
    namespace_of,
    next_month,
    pricing_category,
    service_category,
    squash,
)
from warehouse.errors import IngestError

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
        with open_text(self.path) as handle:
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
            "charge_frequency": FREQUENCY.get(squash(cell("frequency") or "UsageBased"), "Other"),
            "charge_description": cell("description"),
            "pricing_category": pricing_category(model, category),
            "commitment_discount_id": benefit,
            "commitment_discount_name": cell("benefit_name"),
            "commitment_discount_type": COMMITMENT_MODELS.get(squash(model)) if benefit else None,
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


def open_text(path: Path) -> IO[str]:
    """A CSV export as text, gzipped or not; ``utf-8-sig`` drops the BOM Azure writes."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return path.open(newline="", encoding="utf-8-sig")
