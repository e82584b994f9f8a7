"""Azure GPU VM prices from the public Retail Prices API -> ``prices``.

One walk per region: ``GET {endpoint}?$filter=serviceName eq 'Virtual Machines' and
armRegionName eq '{region}' and priceType eq 'Consumption'``, following ``NextPageLink`` until it
is empty (no credentials needed). Of the items, only GPU sizes (``armSkuName`` Standard_NC*,
ND*, NV*) priced per ``1 Hour`` are kept, and of those:

* Linux pay-as-you-go -> ``on_demand``: ``skuName`` without "Spot"/"Low Priority" and a
  ``productName`` not ending in "Windows" (Windows prices include the licence);
* ``skuName`` "... Spot" (Linux) -> ``spot``, at today's retail spot price;
* "Low Priority" (Batch) and reservation/dev-test items are dropped by the rules above and by
  the filter.

``retailPrice`` is read as an exact Decimal from the JSON text. Every price is stored with source
``azure-retail-prices`` and the fetch date (00:00 UTC of the run's day): the API's own
``effectiveStartDate`` says when Microsoft set the price, not when we saw it, so rerunning on the
same day replaces that day's prices and a later day adds a new dated set.

Regions: ``[azure] price_regions`` plus every region the Azure inventory holds. No Azure price
snapshot exists (no public sample), so when the API is unreachable the run fails and says so.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.base import CollectResult
from collectors.cloud_clients import ApiError, RestJsonClient, retail_prices_client
from warehouse.errors import InputError, SourceError
from warehouse.load_inventory import PRICE_KEY, PriceRecord, load_inventory
from warehouse.schema import resources

if TYPE_CHECKING:
    from spendwatch.config import Settings

SOURCE = "azure_prices"
PRICE_SOURCE = "azure-retail-prices"
GPU_SIZE = re.compile(r"^Standard_N[CDV]", re.IGNORECASE)
REGION_NAME = re.compile(r"^[a-z0-9]+$")  # armRegionName: eastus, westeurope, ...
MAX_PAGES = 1000  # a region has ~5 pages of 1,000 VM items; more means a looping NextPageLink


def region_filter(region: str) -> str:
    if not REGION_NAME.match(region):
        raise InputError(
            f"azure_prices: {region!r} is not an Azure region name; use names such as "
            "eastus or westeurope in [azure] price_regions"
        )
    return (
        f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' "
        "and priceType eq 'Consumption'"
    )


def pricing_model_of(item: Mapping[str, Any]) -> str | None:
    """on_demand, spot, or None for an item that is not a Linux hourly GPU VM price."""
    if item.get("type") != "Consumption" or item.get("unitOfMeasure") != "1 Hour":
        return None
    if not GPU_SIZE.match(str(item.get("armSkuName") or "")):
        return None
    if item.get("isPrimaryMeterRegion") is False:
        return None
    names = f"{item.get('skuName') or ''} {item.get('meterName') or ''}"
    if "Low Priority" in names or str(item.get("productName") or "").endswith("Windows"):
        return None
    return "spot" if "Spot" in names else "on_demand"


def price_records(
    items: Iterable[Mapping[str, Any]], *, region: str, fetched: dt.datetime
) -> tuple[list[PriceRecord], int]:
    """One price per (size, model); the newest ``effectiveStartDate`` wins a duplicate.

    Returns the records and how many duplicate items were set aside."""
    chosen: dict[tuple[str, str], Mapping[str, Any]] = {}
    duplicates = 0
    for item in items:
        model = pricing_model_of(item)
        if model is None:
            continue
        key = (str(item["armSkuName"]), model)
        if key in chosen:
            duplicates += 1
            if _rank(item) <= _rank(chosen[key]):
                continue
        chosen[key] = item
    records = [
        PriceRecord(
            provider="azure",
            region=region,
            sku=sku,
            pricing_model=model,
            unit="hour",
            price=_decimal(item["retailPrice"]),
            currency=str(item.get("currencyCode") or "USD"),
            effective_at=fetched,
            source=PRICE_SOURCE,
        )
        for (sku, model), item in sorted(chosen.items())
    ]
    return records, duplicates


def retail_items(client: RestJsonClient, region: str) -> Iterator[Mapping[str, Any]]:
    """Every item of the region's VM consumption prices, page after page."""
    page = client.get_json("", {"$filter": region_filter(region)})
    seen: set[str] = set()
    while True:
        yield from page.get("Items") or []
        link = page.get("NextPageLink")
        if not link:
            return
        if link in seen or len(seen) >= MAX_PAGES:
            raise SourceError(
                f"{SOURCE} ({region}): the Retail Prices API keeps answering NextPageLink "
                f"{link}; report it, or try again later"
            )
        seen.add(link)
        page = client.get_json(link)


def inventory_regions(engine: Engine) -> list[str]:
    """The regions of the Azure VMs the warehouse holds: where prices are needed."""
    query = (
        sa.select(resources.c.region)
        .where(resources.c.provider == "azure", resources.c.region.is_not(None))
        .distinct()
    )
    with engine.connect() as connection:
        return sorted(str(region).lower() for region in connection.execute(query).scalars())


class AzurePricesCollector:
    """``spendwatch collect azure_prices``: today's Azure GPU VM prices per region."""

    name = SOURCE
    loads = "prices"
    natural_key: tuple[str, ...] = PRICE_KEY
    lookback = dt.timedelta(0)
    initial_window = dt.timedelta(days=1)

    def __init__(self, client: RestJsonClient, *, regions: Sequence[str] = ()) -> None:
        self.client = client
        self.regions = [region.strip().lower() for region in regions if region.strip()]

    @classmethod
    def from_settings(cls, settings: Settings) -> AzurePricesCollector:
        return cls(retail_prices_client(settings), regions=settings.azure.price_regions)

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        regions = sorted({*self.regions, *inventory_regions(engine)})
        if not regions:
            return CollectResult(
                rows=0,
                watermark=until,
                details={
                    "regions": [],
                    "note": "no region to price: set [azure] price_regions or collect "
                    "azure_inventory first",
                },
            )
        fetched = until.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        records: list[PriceRecord] = []
        duplicates = 0
        for region in regions:  # all regions are read before anything is written
            try:
                found, skipped = price_records(
                    retail_items(self.client, region), region=region, fetched=fetched
                )
            except ApiError as exc:
                raise SourceError(self._reason(exc, region)) from None
            records.extend(found)
            duplicates += skipped
        counts = load_inventory(engine, price_records=records)
        return CollectResult(
            rows=counts.prices,
            watermark=until,
            details={
                "regions": regions,
                "on_demand": sum(1 for r in records if r.pricing_model == "on_demand"),
                "spot": sum(1 for r in records if r.pricing_model == "spot"),
                "duplicates_set_aside": duplicates,
                "requests": self.client.requests,
                "fetched": fetched.date().isoformat(),
            },
        )

    def _reason(self, exc: ApiError, region: str) -> str:
        what = f"{SOURCE} ({region})"
        unpriced = "no offline Azure prices exist, so Azure GPU VMs stay unpriced"
        if exc.status is None or exc.status == 429 or exc.status >= 500:
            return (
                f"{what}: {self.client.base_url} {exc}; {unpriced} until it answers; run again "
                "later or check the network and [azure] retail_prices_endpoint"
            )
        return (
            f"{what}: the Retail Prices API refused the request ({exc}); {unpriced}; check "
            "[azure] retail_prices_endpoint (it needs no credentials)"
        )


def _rank(item: Mapping[str, Any]) -> tuple[str, Decimal]:
    return str(item.get("effectiveStartDate") or ""), _decimal(item.get("retailPrice"))


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):  # never: the client parses numbers as Decimal
        raise TypeError("a price reached the collector as float")
    return Decimal(str(value if value is not None else 0))
