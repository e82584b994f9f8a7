"""FOCUS column names: which header in a file feeds which warehouse column.

The warehouse stores FOCUS 1.2 ColumnIDs in snake_case (``warehouse.schema``). FOCUS 1.0 and 1.1
use the same ColumnIDs for every column they share with 1.2 (1.1 and 1.2 only added columns), so
mapping 1.0/1.1 onto 1.2 is the identity plus a few names from pre-1.0 drafts that real exports
still carry. Headers are matched case-insensitively because the spec's own example files write
``SkuPriceid``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from warehouse.errors import IngestError
from warehouse.schema import (
    FOCUS_JSON_COLUMNS,
    FOCUS_MONEY_COLUMNS,
    FOCUS_QUANTITY_COLUMNS,
    FOCUS_STRING_COLUMNS,
    FOCUS_TIME_COLUMNS,
)

log = logging.getLogger(__name__)

FOCUS_COLUMNS: tuple[str, ...] = (
    *FOCUS_MONEY_COLUMNS,
    *FOCUS_QUANTITY_COLUMNS,
    *FOCUS_TIME_COLUMNS,
    *FOCUS_JSON_COLUMNS,
    *FOCUS_STRING_COLUMNS,
)

# Older or newer spellings -> FOCUS 1.2 column. Keys are lower case without separators.
ALIASES: dict[str, str] = {
    # 0.5 / 1.0-preview names, renamed before 1.0
    "invoiceissuer": "invoice_issuer_name",
    "provider": "provider_name",
    "publisher": "publisher_name",
    "usagequantity": "consumed_quantity",
    "usageunit": "consumed_unit",
    "chargetype": "charge_category",
    # the post-1.2 working draft splits ProviderName; its service provider is 1.2's provider
    "serviceprovidername": "provider_name",
}

# Every one of the 26 spec v1.2 example files and the working-draft example has these; most
# FOCUS-mandatory columns are absent from some example, so requiring more would refuse the
# spec's own examples. The shared columns are BilledCost, EffectiveCost, BillingPeriodStart/End,
# ChargePeriodStart/End, ChargeCategory, ChargeFrequency and PricingCategory; we require only
# what the warehouse cannot do without: the money, the charge time, and the restatement key.
REQUIRED: tuple[str, ...] = ("billed_cost", "billing_period_start", "charge_period_start")


def snake_case(column_id: str) -> str:
    """``SkuPriceId`` -> ``sku_price_id`` (FOCUS ColumnIDs are plain PascalCase)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column_id).lower()


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_BY_KEY: dict[str, str] = {_key(name): name for name in FOCUS_COLUMNS}


def display_name(column: str) -> str:
    """``sku_price_id`` -> ``SkuPriceId``, for messages in the file's own vocabulary."""
    return "".join(part.capitalize() for part in column.split("_"))


@dataclass(frozen=True)
class HeaderMap:
    """How one file's header maps onto the warehouse columns."""

    focus: dict[str, int]  # warehouse column -> index in the file
    headers: dict[str, str]  # warehouse column -> the header as written in the file
    extra: dict[str, int]  # x_* header as written -> index in the file
    ignored: list[str] = field(default_factory=list)


def map_header(names: Sequence[str], *, path: str) -> HeaderMap:
    """Resolve a header row. Raises :class:`IngestError` for a missing required column."""
    focus: dict[str, int] = {}
    headers: dict[str, str] = {}
    extra: dict[str, int] = {}
    ignored: list[str] = []
    aliased: list[tuple[str, str, int]] = []
    for index, raw in enumerate(names):
        name = (raw or "").strip().lstrip("\ufeff")
        key = _key(name)
        if key in _BY_KEY:
            column = _BY_KEY[key]
            if column in focus:
                raise IngestError(
                    path, "the header names this column twice; remove one", column=name
                )
            focus[column] = index
            headers[column] = name
        elif name.lower().startswith("x_"):
            extra[name] = index
        elif key in ALIASES:
            aliased.append((ALIASES[key], name, index))
        else:
            ignored.append(name)
    # An alias fills a column only when the file lacks the 1.2 name itself.
    for column, name, index in aliased:
        if column in focus:
            ignored.append(name)
        else:
            focus[column] = index
            headers[column] = name
    for column in REQUIRED:
        if column not in focus:
            raise IngestError(
                path,
                "required column is missing from the header; "
                "export the file with FOCUS 1.0, 1.1 or 1.2 columns",
                column=display_name(column),
            )
    if ignored:
        # Info, not a warning: the caller reports them (`ingest focus` lists ignored_columns
        # per file), and an extra column such as a row Id is common and harmless.
        log.info("%s: ignoring columns that are neither FOCUS nor x_: %s", path, ignored)
    return HeaderMap(focus=focus, headers=headers, extra=extra, ignored=ignored)
