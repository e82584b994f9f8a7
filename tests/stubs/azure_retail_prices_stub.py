"""A local Azure Retail Prices API on 127.0.0.1 (public, no auth).

``GET /api/retail/prices?$filter=...`` answers the documented envelope (``BillingCurrency``,
``CustomerEntityId``, ``CustomerEntityType``, ``Items``, ``NextPageLink``, ``Count``). It
understands the ``armRegionName eq '...'`` clause of the filter, pages ``page_size`` items at a
time with a ``$skip`` in ``NextPageLink`` (as the real API does, 1,000 at a time), and writes
prices as the exact JSON number text given. Faults: 429 with Retry-After, 500/503, 401 (what a
proxy or a wrong endpoint might answer).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from tests.stubs.server import RawNumber, Reply, Request, StubServer

FAULTS = ("429", "500", "503", "401")
PATH = "/api/retail/prices"


def item(
    region: str,
    arm_sku: str,
    sku_name: str,
    product: str,
    price: str,
    *,
    kind: str = "Consumption",
    unit: str = "1 Hour",
    start: str = "2024-06-01T00:00:00Z",
) -> dict[str, Any]:
    """One price item with the documented field names; ``price`` is exact JSON number text."""
    location = {"eastus": "US East", "westeurope": "EU West"}.get(region, region)
    return {
        "currencyCode": "USD",
        "tierMinimumUnits": RawNumber("0.0"),
        "retailPrice": RawNumber(price),
        "unitPrice": RawNumber(price),
        "armRegionName": region,
        "location": location,
        "effectiveStartDate": start,
        "meterId": f"00000000-0000-0000-0000-{abs(len(sku_name) * 7919 + len(product)):012d}",
        "meterName": sku_name,
        "productId": "DZH318Z0BPVW",
        "skuId": "DZH318Z0BPVW/00R5",
        "productName": product,
        "skuName": sku_name,
        "serviceName": "Virtual Machines",
        "serviceId": "DZH313Z7MMC8",
        "serviceFamily": "Compute",
        "unitOfMeasure": unit,
        "type": kind,
        "isPrimaryMeterRegion": True,
        "armSkuName": arm_sku,
    }


NCV3 = "Virtual Machines NCSv3 Series"
NDH100 = "Virtual Machines NDsr H100 v5 Series"
NCA100 = "Virtual Machines NCadsA100v4 Series"
NVA10 = "Virtual Machines NVadsA10v5 Series"

# HAND-MADE: no public Azure GPU VM price sample exists (../shared/data/README.md, known gaps).
# Shapes and names follow the documented items; prices are plausible, not quotes.
ITEMS: dict[str, list[dict[str, Any]]] = {
    "eastus": [
        item("eastus", "Standard_NC6s_v3", "NC6s v3", NCV3, "3.06"),
        item("eastus", "Standard_NC6s_v3", "NC6s v3", NCV3, "2.90", start="2021-01-01T00:00:00Z"),
        item("eastus", "Standard_NC6s_v3", "NC6s v3 Spot", NCV3, "0.6732"),
        item("eastus", "Standard_NC6s_v3", "NC6s v3 Low Priority", NCV3, "0.612"),
        item("eastus", "Standard_NC6s_v3", "NC6s v3", NCV3 + " Windows", "3.244"),
        item("eastus", "Standard_ND96isr_H100_v5", "ND96isr H100 v5", NDH100, "98.32"),
        item("eastus", "Standard_ND96isr_H100_v5", "ND96isr H100 v5 Spot", NDH100, "17.6976"),
        item("eastus", "Standard_D4s_v5", "D4s v5", "Virtual Machines Dsv5 Series", "0.192"),
        item("eastus", "Standard_NV36ads_A10_v5", "NV36ads A10 v5", NVA10, "3.2"),
        item("eastus", "Standard_NC6s_v3", "NC6s v3", NCV3, "1.5", unit="1/Day"),
    ],
    "westeurope": [
        item("westeurope", "Standard_NC24ads_A100_v4", "NC24ads A100 v4", NCA100, "4.408"),
        # More digits than a float keeps: must arrive as written.
        item("westeurope", "Standard_NC24ads_A100_v4", "NC24ads A100 v4 Spot", NCA100,
             "1.2345678901234567891"),
    ],
}  # fmt: skip


class RetailPricesStub(StubServer):
    content_type = "application/json; charset=utf-8"

    def __init__(self, *, page_size: int = 3) -> None:
        self.page_size = page_size
        self.retry_after = "1"
        self.items = ITEMS
        self._start(faults=FAULTS)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{PATH}"

    def route(self, request: Request) -> Reply:
        fault = self.next_fault()
        if fault == "401":
            return 401, {}, {"Message": "Unauthorized"}
        if fault == "429":
            return 429, {"Retry-After": self.retry_after}, {"Message": "Too many requests"}
        if fault in ("500", "503"):
            return int(fault), {}, {"Message": "An error has occurred."}
        if request.path.rstrip("/") != PATH:
            return 404, {}, {"Message": f"No HTTP resource was found that matches {request.path}"}
        return 200, {}, self.prices(request.query)

    def prices(self, query: dict[str, list[str]]) -> dict[str, Any]:
        text = (query.get("$filter") or [""])[0]
        region = re.search(r"armRegionName eq '([^']*)'", text)
        wanted = [
            entry
            for entry in self.items.get(region.group(1) if region else "", [])
            if "priceType eq 'Consumption'" not in text or entry["type"] == "Consumption"
        ]
        skip = int((query.get("$skip") or ["0"])[0])
        page = wanted[skip : skip + self.page_size]
        answer: dict[str, Any] = {
            "BillingCurrency": "USD",
            "CustomerEntityId": "Default",
            "CustomerEntityType": "Retail",
            "Items": page,
            "NextPageLink": None,
            "Count": len(page),
        }
        if skip + self.page_size < len(wanted):
            follow = {"$filter": text, "$skip": str(skip + self.page_size)}
            answer["NextPageLink"] = f"{self.url}?{urlencode(follow)}"
        return answer
