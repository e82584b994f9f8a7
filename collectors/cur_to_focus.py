"""AWS Cost and Usage Reports (CUR 2.0 and legacy CUR) as normalized FOCUS batches.

:class:`CurFile` reads a CUR file exactly as :class:`collectors.focus_files.FocusFile` reads a
FOCUS file (CSV, CSV.gz or Parquet; local or ``s3://``; streamed in batches) and yields the same
warehouse-ready batches, so ``warehouse.load.load_focus_batches`` loads either. Each CUR batch is
first rewritten into FOCUS columns, then goes through FocusFile's own cell conversion, so exact
decimals, UTC timestamps, JSON checks and row/column-precise errors behave the same.

The mapping follows the FinOps Foundation focus_converters rules
(``conversion_rules_aws.csv`` for CUR 2.0, ``conversion_rules_aws-cur.csv`` for legacy CUR) and
their ``aws_category_mapping.csv`` for ServiceCategory (shipped in ``collectors/mappings``, MIT,
Copyright (c) 2023 FinOps Foundation). CUR 2.0 snake_case names and legacy
``lineItem/UnblendedCost`` names reduce to the same key once case and separators are dropped
(``lineitemunblendedcost``), so one table serves both. Deliberate departures from the rules,
each matching AWS's own FOCUS export:

* ListCost is ``pricing/publicOnDemandCost`` and only falls back to rate x amount when that is
  empty: AWS computes it from unrounded usage, and rate x rounded amount drifts (514 of the 1281
  rows of the public legacy sample differ).
* ChargeFrequency is ``Usage-Based`` for usage lines (the rules map every ``Anniversary`` bill to
  ``Recurring``).
* ServiceName is the product's display name when the file has one, else the product code.
* PricingCategory falls back to ``pricing/term`` (OnDemand, Reserved) when the file has no
  purchase option column, as legacy CUR usually does.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from collectors.focus_columns import HeaderMap
from collectors.focus_convert import as_text
from collectors.focus_files import FocusFile, FocusOptions
from warehouse.errors import IngestError

MAPPINGS = Path(__file__).resolve().parent / "mappings"
_STRING = pa.string()
_NULL_TEXT = pa.scalar(None, _STRING)

CHARGE_CATEGORY = {
    "Tax": "Tax",
    "Fee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "RIFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "Usage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage",
    "DiscountedUsage": "Usage",
    "BundledDiscount": "Usage",
    "Discount": "Usage",
    "PrivateRateDiscount": "Usage",
    "EdpDiscount": "Usage",
    "Credit": "Adjustment",
    "Refund": "Adjustment",
}
BILL_TYPE_FREQUENCY = {"Refund": "One-Time", "Purchase": "One-Time", "Anniversary": "Recurring"}
PURCHASE_OPTION = {
    "On-Demand": "Standard",
    "Reserved Instances": "Committed",
    "Spot Instances": "Dynamic",
    "Dedicated Hosts": "Standard",
}
PRICING_TERM = {"OnDemand": "Standard", "Reserved": "Committed"}
# CUR columns FOCUS has no place for, kept in x_extra (GPU analytics read the usage type).
EXTRA = {
    "x_ServiceCode": "line_item_product_code",
    "x_UsageType": "line_item_usage_type",
    "x_Operation": "line_item_operation",
    "x_LineItemType": "line_item_line_item_type",
    "x_InstanceType": "product_instance_type",
}
_ARN_RESOURCE = r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:(?P<type>[^:/]+)[:/](?P<name>.+)$"


def column_key(name: str) -> str:
    """``lineItem/UnblendedCost`` and ``line_item_unblended_cost`` -> ``lineitemunblendedcost``."""
    return re.sub(r"[^a-z0-9]", "", name.strip().lstrip("\ufeff").lower())


@cache
def service_categories() -> dict[str, str]:
    """AWS product code -> FOCUS ServiceCategory (focus_converters' mapping file)."""
    with (MAPPINGS / "aws_category_mapping.csv").open(newline="", encoding="utf-8") as handle:
        return {row["product_code"]: row["ServiceCategory"] for row in csv.DictReader(handle)}


@dataclass
class CurColumns:
    """One CUR batch, addressed by CUR 2.0 snake_case names whatever the file's flavour."""

    batch: pa.RecordBatch
    index: dict[str, int]

    def raw(self, name: str) -> pa.Array | None:
        position = self.index.get(column_key(name))
        return None if position is None else self.batch.column(position)

    def text(self, name: str) -> pa.Array:
        array = self.raw(name)
        return pa.nulls(self.batch.num_rows, _STRING) if array is None else as_text(array)

    def time(self, name: str) -> pa.Array:
        array = self.raw(name)  # typed Parquet timestamps stay typed; FocusFile converts both
        return pa.nulls(self.batch.num_rows, _STRING) if array is None else array

    def equals(self, name: str, value: str) -> pa.Array:
        return pc.fill_null(pc.equal(self.text(name), value), False)

    def present(self, name: str) -> pa.Array:
        return pc.is_valid(self.text(name))


def _mapped(values: pa.Array, mapping: dict[str, str]) -> pa.Array:
    keys = pa.array(list(mapping), _STRING)
    positions = pc.index_in(values, value_set=keys)
    return pc.take(pa.array(list(mapping.values()), _STRING), positions)


def _decimal_rows(
    mask: pa.Array, operands: Sequence[pa.Array], combine: Callable[..., Decimal]
) -> pa.Array:
    """Exact arithmetic on the few rows that need it (fees, list-cost fallbacks); else null."""
    rows = pc.indices_nonzero(mask).to_pylist()
    values: list[str | None] = [None] * len(mask)
    for row in rows:
        cells = [operand[row].as_py() for operand in operands]
        if any(cell is None for cell in cells):
            continue
        try:
            values[row] = str(combine(*(Decimal(cell) for cell in cells)))
        except InvalidOperation:
            values[row] = None  # left null here; the plain column's check names the bad cell
    return pa.array(values, _STRING)


def _first_of(*arrays: pa.Array) -> pa.Array:
    return pc.coalesce(*arrays)


def _effective_cost(cur: CurColumns) -> pa.Array:
    kind = "line_item_line_item_type"
    result = cur.text("line_item_unblended_cost")
    zero = pa.scalar("0", _STRING)
    recurring = cur.equals(kind, "SavingsPlanRecurringFee")
    ri_fee = cur.equals(kind, "RIFee")
    cases: list[tuple[pa.Array, pa.Array | pa.Scalar]] = [
        (
            pc.and_(cur.equals(kind, "Fee"), cur.present("reservation_reservation_arn")),
            zero,
        ),
        (
            ri_fee,
            _decimal_rows(
                ri_fee,
                [
                    cur.text("reservation_unused_amortized_upfront_fee_for_billing_period"),
                    cur.text("reservation_unused_recurring_fee"),
                ],
                lambda a, b: a + b,
            ),
        ),
        (cur.equals(kind, "DiscountedUsage"), cur.text("reservation_effective_cost")),
        (cur.equals(kind, "SavingsPlanUpfrontFee"), zero),
        (cur.equals(kind, "SavingsPlanNegation"), zero),
        (
            recurring,
            _decimal_rows(
                recurring,
                [
                    cur.text("savings_plan_total_commitment_to_date"),
                    cur.text("savings_plan_used_commitment"),
                ],
                lambda a, b: a - b,
            ),
        ),
        (
            cur.equals(kind, "SavingsPlanCoveredUsage"),
            cur.text("savings_plan_savings_plan_effective_cost"),
        ),
    ]
    for mask, value in cases:  # the first rule in the converter's CASE is applied last: it wins
        result = pc.if_else(mask, value, result)
    return result


def _list_cost(cur: CurColumns) -> pa.Array:
    public = cur.text("pricing_public_on_demand_cost")
    rate = cur.text("pricing_public_on_demand_rate")
    fallback = pc.and_(pc.is_null(public), pc.is_valid(rate))
    computed = _decimal_rows(
        fallback, [rate, cur.text("line_item_usage_amount")], lambda r, q: r * q
    )
    return _first_of(public, computed)


def _commitment(cur: CurColumns) -> dict[str, pa.Array]:
    plan = cur.text("savings_plan_savings_plan_arn")
    reservation = cur.text("reservation_reservation_arn")
    has_plan, has_reservation = pc.is_valid(plan), pc.is_valid(reservation)

    def pick(for_plan: str, for_reservation: str) -> pa.Array:
        return pc.if_else(
            has_plan,
            for_plan,
            pc.if_else(has_reservation, for_reservation, _NULL_TEXT),
        )

    return {
        "commitment_discount_id": _first_of(plan, reservation),
        "commitment_discount_category": pick("Spend", "Usage"),
        "commitment_discount_type": pick("Savings Plan", "Reserved Instances (RI)"),
    }


def _resource(cur: CurColumns) -> dict[str, pa.Array]:
    resource_id = cur.text("line_item_resource_id")
    parts = pc.extract_regex(pc.fill_null(resource_id, ""), _ARN_RESOURCE)
    matched = pc.is_valid(parts)
    return {
        "resource_id": resource_id,
        "resource_type": pc.if_else(matched, pc.struct_field(parts, "type"), _NULL_TEXT),
        "resource_name": pc.if_else(matched, pc.struct_field(parts, "name"), _NULL_TEXT),
    }


def _tags(cur: CurColumns) -> pa.Array:
    """CUR 2.0 ``resource_tags`` (a map, or JSON text in CSV); legacy ``resourceTags/*`` columns."""
    from collectors.focus_convert import x_extra_json

    tags = cur.raw("resource_tags")
    if tags is not None:
        if pa.types.is_map(tags.type):
            return pa.array(
                [None if row is None else json.dumps(dict(row)) for row in tags.to_pylist()],
                _STRING,
            )
        return as_text(tags)
    legacy = {
        name.split("/", 1)[1]: cur.batch.column(position)
        for name, position in zip(cur.batch.schema.names, range(cur.batch.num_columns), strict=True)
        if name.lower().startswith("resourcetags/")
    }
    return x_extra_json({key: as_text(array) for key, array in legacy.items()}, cur.batch.num_rows)


def cur_to_focus(cur: CurColumns) -> dict[str, pa.Array]:
    """FOCUS columns (warehouse names) of one CUR batch, still as text/timestamps."""
    kind = cur.text("line_item_line_item_type")
    category = _mapped(kind, CHARGE_CATEGORY)
    is_usage = pc.fill_null(pc.equal(category, "Usage"), False)
    product = cur.text("line_item_product_code")
    known = service_categories()
    service_category = pc.if_else(
        pc.is_valid(product), pc.fill_null(_mapped(product, known), "Other"), _NULL_TEXT
    )
    pricing_category = _first_of(
        _mapped(cur.text("product_purchase_option"), PURCHASE_OPTION),
        _mapped(cur.text("pricing_term"), PRICING_TERM),
    )
    usage_amount = cur.text("line_item_usage_amount")
    columns: dict[str, pa.Array] = {
        "billed_cost": _first_of(
            cur.text("line_item_net_unblended_cost"), cur.text("line_item_unblended_cost")
        ),
        "effective_cost": _effective_cost(cur),
        "list_cost": _list_cost(cur),
        "list_unit_price": cur.text("pricing_public_on_demand_rate"),
        "consumed_quantity": usage_amount,
        "consumed_unit": cur.text("pricing_unit"),
        "pricing_quantity": _first_of(cur.text("reservation_total_reserved_units"), usage_amount),
        "pricing_unit": cur.text("pricing_unit"),
        "billing_period_start": cur.time("bill_billing_period_start_date"),
        "billing_period_end": cur.time("bill_billing_period_end_date"),
        "charge_period_start": cur.time("line_item_usage_start_date"),
        "charge_period_end": cur.time("line_item_usage_end_date"),
        "billing_account_id": cur.text("bill_payer_account_id"),
        "sub_account_id": cur.text("line_item_usage_account_id"),
        "billing_currency": cur.text("line_item_currency_code"),
        "charge_category": category,
        "charge_description": cur.text("line_item_line_item_description"),
        "charge_frequency": pc.if_else(
            is_usage, "Usage-Based", _mapped(cur.text("bill_bill_type"), BILL_TYPE_FREQUENCY)
        ),
        "invoice_issuer_name": cur.text("bill_invoicing_entity"),
        "publisher_name": cur.text("line_item_legal_entity"),
        "pricing_category": pricing_category,
        "provider_name": pa.repeat(pa.scalar("AWS", _STRING), cur.batch.num_rows),
        "region_id": _first_of(cur.text("product_region"), cur.text("product_region_code")),
        "region_name": cur.text("product_location"),
        "availability_zone": cur.text("line_item_availability_zone"),
        "service_category": service_category,
        "service_name": _first_of(
            cur.text("product_product_name"), cur.text("product_servicename"), product
        ),
        "sku_id": cur.text("product_sku"),
        "sku_price_id": _first_of(cur.text("pricing_rate_code"), cur.text("pricing_rate_id")),
        "tags": _tags(cur),
        **_commitment(cur),
        **_resource(cur),
    }
    return columns


# Where each FOCUS column comes from, for error messages in the file's own vocabulary.
_SOURCE_OF = {
    "billed_cost": "line_item_unblended_cost",
    "effective_cost": "line_item_unblended_cost",
    "list_cost": "pricing_public_on_demand_cost",
    "billing_period_start": "bill_billing_period_start_date",
    "billing_period_end": "bill_billing_period_end_date",
    "charge_period_start": "line_item_usage_start_date",
    "charge_period_end": "line_item_usage_end_date",
    "billing_currency": "line_item_currency_code",
    "consumed_quantity": "line_item_usage_amount",
    "pricing_quantity": "line_item_usage_amount",
    "list_unit_price": "pricing_public_on_demand_rate",
    "tags": "resource_tags",
}
_REQUIRED_SOURCES = (
    "line_item_unblended_cost",
    "line_item_usage_start_date",
    "bill_billing_period_start_date",
)


@dataclass
class CurFile(FocusFile):
    """A CUR 2.0 or legacy CUR file; iterate it for normalized FOCUS batches."""

    options: FocusOptions = field(default_factory=lambda: FocusOptions(provider_hint="AWS"))
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _names: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def _header(self, names: list[str]) -> HeaderMap:
        self._index = {column_key(name): i for i, name in enumerate(names) if name}
        self._names = {column_key(name): name for name in names if name}
        for needed in _REQUIRED_SOURCES:
            if column_key(needed) not in self._index:
                raise IngestError(
                    self.location,
                    "required CUR column is missing from the header; export CUR 2.0 or legacy "
                    "CUR with its standard columns",
                    column=needed,
                )
        empty = pa.RecordBatch.from_pydict({name: pa.array([], _STRING) for name in names})
        focus_names = list(cur_to_focus(CurColumns(empty, self._index)))
        extra = [name for name, source in EXTRA.items() if column_key(source) in self._index]
        headers = {
            column: self._names.get(column_key(_SOURCE_OF.get(column, "")), column)
            for column in focus_names
        }
        return HeaderMap(
            focus={column: i for i, column in enumerate(focus_names)},
            headers=headers,
            extra={name: len(focus_names) + i for i, name in enumerate(extra)},
        )

    def _normalized(self, batch: pa.RecordBatch, header: HeaderMap) -> Iterator[pa.RecordBatch]:
        cur = CurColumns(batch, self._index)
        columns = cur_to_focus(cur)
        for name in header.extra:
            columns[name] = cur.text(EXTRA[name])
        focus_batch = pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))
        yield from super()._normalized(focus_batch, header)
