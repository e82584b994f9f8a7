"""A local Cloud Billing Catalog API (REST v1) on 127.0.0.1.

``GET /v1/services`` and ``GET /v1/services/{id}/skus`` answer the public REST JSON shape
(``services[]``/``skus[]`` with ``category``, ``serviceRegions``, ``pricingInfo[].
pricingExpression.tieredRates[].unitPrice {currencyCode, units, nanos}``) and page with
``pageSize``/``nextPageToken``. Every request is recorded (so tests can see ``currencyCode``).
Faults: 429 with Retry-After, 500/503, 401 for a bearer token other than the expected one.
"""

from __future__ import annotations

from typing import Any

from tests.stubs.server import Reply, Request, StubServer

FAULTS = ("429", "500", "503", "401")
COMPUTE = "services/6F81-5844-456A"
STORAGE = "services/95FF-2EF5-5EA1"
SERVICES = [
    {"name": COMPUTE, "serviceId": "6F81-5844-456A", "displayName": "Compute Engine",
     "businessEntityName": "businessEntities/GCP"},
    {"name": "services/24E6-581D-38E5", "serviceId": "24E6-581D-38E5", "displayName": "BigQuery",
     "businessEntityName": "businessEntities/GCP"},
    {"name": STORAGE, "serviceId": "95FF-2EF5-5EA1", "displayName": "Cloud Storage",
     "businessEntityName": "businessEntities/GCP"},
]  # fmt: skip


def sku(
    service: str,
    sku_id: str,
    description: str,
    *,
    family: str,
    group: str,
    usage_type: str,
    regions: list[str],
    unit: str,
    tiers: list[tuple[float, str, int]],
) -> dict[str, Any]:
    return {
        "name": f"{service}/skus/{sku_id}",
        "skuId": sku_id,
        "description": description,
        "category": {
            "serviceDisplayName": {COMPUTE: "Compute Engine", STORAGE: "Cloud Storage"}[service],
            "resourceFamily": family,
            "resourceGroup": group,
            "usageType": usage_type,
        },
        "serviceRegions": regions,
        "pricingInfo": [
            {
                "summary": "",
                "pricingExpression": {
                    "usageUnit": unit,
                    "displayQuantity": 1,
                    "tieredRates": [
                        {
                            "startUsageAmount": start,
                            "unitPrice": {"currencyCode": "USD", "units": units, "nanos": nanos},
                        }
                        for start, units, nanos in tiers
                    ],
                    "usageUnitDescription": {"h": "hour", "GiBy.mo": "gibibyte month"}[unit],
                    "baseUnit": {"h": "s", "GiBy.mo": "By.s"}[unit],
                    "baseUnitDescription": {"h": "second", "GiBy.mo": "byte second"}[unit],
                    "baseUnitConversionFactor": {"h": 3600, "GiBy.mo": 2.8759101014016e15}[unit],
                },
                "currencyConversionRate": 1,
                "effectiveTime": "2026-07-30T05:08:31.512Z",
            }
        ],
        "serviceProviderName": "Google",
    }


# HAND-MADE in the public REST shape: the catalog is not in any public repository. Prices match
# ../shared/data/gcp/pricing/pricing.yml where it has them (GCS standard 0.02, archive 0.0012 /
# GB-month); the A100 GPU-hour is a2-highgpu-1g's GPU part. The T4 figures (0.35/h, spot 0.07/h)
# are made up for the tests: no public sample has per-GPU prices.
SKUS: dict[str, list[dict[str, Any]]] = {
    COMPUTE: [
        sku(COMPUTE, "039F-D0DA-4055", "Nvidia Tesla A100 GPU running in Americas",
            family="Compute", group="GPU", usage_type="OnDemand",
            regions=["us-central1", "us-east1"], unit="h", tiers=[(0, "2", 933908000)]),
        sku(COMPUTE, "9A4E-2A36-7C0B", "Spot Preemptible Nvidia Tesla A100 GPU running in Americas",
            family="Compute", group="GPU", usage_type="Preemptible",
            regions=["us-central1"], unit="h", tiers=[(0, "1", 173563000)]),
        sku(COMPUTE, "B1B0-5AE1-7F4D", "Nvidia Tesla T4 GPU running in Americas",
            family="Compute", group="GPU", usage_type="OnDemand",
            regions=["us-central1", "us-east1"], unit="h", tiers=[(0, "0", 350000000)]),
        sku(COMPUTE, "3F10-98C2-A41E",
            "Nvidia Tesla T4 GPU attached to Spot Preemptible VMs running in Americas",
            family="Compute", group="GPU", usage_type="Preemptible",
            regions=["us-east1"], unit="h", tiers=[(0, "0", 70000000)]),
        sku(COMPUTE, "2E27-4F75-95CD", "A2 Instance Core running in Americas",
            family="Compute", group="CPU", usage_type="OnDemand",
            regions=["us-central1"], unit="h", tiers=[(0, "0", 31611000)]),
        sku(COMPUTE, "0F11-7B9B-5B1B", "Network Inter Zone Egress",
            family="Network", group="InterzoneEgress", usage_type="OnDemand",
            regions=["us-central1"], unit="h", tiers=[(0, "0", 10000000)]),
    ],
    STORAGE: [
        sku(STORAGE, "E5F0-6A5D-7BAD", "Standard Storage US Regional",
            family="Storage", group="RegionalStorage", usage_type="OnDemand",
            regions=["us-central1"], unit="GiBy.mo", tiers=[(0, "0", 0), (5, "0", 20000000)]),
        sku(STORAGE, "A4B1-7E0C-1D8B", "Archive Storage US Regional",
            family="Storage", group="ArchiveStorage", usage_type="OnDemand",
            regions=["us-central1"], unit="GiBy.mo", tiers=[(0, "0", 1200000)]),
    ],
}  # fmt: skip


class CatalogStub(StubServer):
    content_type = "application/json; charset=UTF-8"

    def __init__(self, *, page_size: int = 2, token: str | None = None) -> None:
        self.page_size = page_size
        self.token = token
        self.skus = SKUS
        self._start(faults=FAULTS)

    def route(self, request: Request) -> Reply:
        fault = self.next_fault()
        auth = request.headers.get("authorization")
        if fault == "401" or (self.token is not None and auth != f"Bearer {self.token}"):
            return 401, {}, _error(401, "UNAUTHENTICATED", "Request had invalid credentials.")
        if fault == "429":
            return 429, {"Retry-After": "1"}, _error(429, "RESOURCE_EXHAUSTED", "Quota.")
        if fault in ("500", "503"):
            return int(fault), {}, _error(int(fault), "UNAVAILABLE", "Backend error.")
        path, query = request.path, request.query
        if path == "/v1/services":
            return 200, {}, self.page("services", SERVICES, query)
        name = path.removeprefix("/v1/").removesuffix("/skus")
        if path.endswith("/skus") and name in self.skus:
            return 200, {}, self.page("skus", self.skus[name], query)
        return 404, {}, _error(404, "NOT_FOUND", f"no {path}")

    def page(self, key: str, items: list[Any], query: dict[str, list[str]]) -> dict[str, Any]:
        size = int((query.get("pageSize") or [str(self.page_size)])[0]) or self.page_size
        start = int((query.get("pageToken") or ["0"])[0] or 0)
        answer: dict[str, Any] = {key: items[start : start + size], "nextPageToken": ""}
        if start + size < len(items):
            answer["nextPageToken"] = str(start + size)
        return answer


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}
