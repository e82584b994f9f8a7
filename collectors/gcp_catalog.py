"""GCP prices from the Cloud Billing Catalog API: GPU, compute and storage SKUs -> ``prices``.

``CloudCatalogClient.list_services`` finds Compute Engine and Cloud Storage;
``list_skus(ListSkusRequest(parent=..., currency_code=...))`` pages through their SKUs (the pager
follows ``nextPageToken``). Kept: Compute SKUs whose resource group is GPU, CPU or RAM, and
Storage SKUs. Each SKU becomes one price per service region:

* ``sku``: a GCS storage class (standard, nearline, coldline, archive: the names the price
  snapshot uses) when the description names one; ``gpu:<model>`` (``gpu:T4``) for a GPU that
  is attached to N1 VMs and billed on top of the machine type (K80, P4, P100, V100, T4; see
  :mod:`warehouse.queries.catalog`); else the SKU description itself ("Nvidia Tesla A100 GPU
  running in Americas"), since catalog SKUs price components, not machine types;
* ``pricing_model`` from ``category.usageType`` (OnDemand, Preemptible = spot, Commit1Yr/3Yr);
* ``price``: ``units + nanos / 1e9`` of the last tier (the rate at volume; storage's first
  tier is often a free allowance), as an exact Decimal.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from collectors.base import CollectResult
from collectors.cloud_clients import catalog_client, google_error_code
from warehouse.errors import SourceError
from warehouse.load_inventory import PRICE_KEY, PriceRecord, load_inventory
from warehouse.queries.catalog import gpu_sku

if TYPE_CHECKING:
    from spendwatch.config import Settings

CATALOG_SOURCE = "gcp-cloud-billing-catalog"
SERVICES = ("Compute Engine", "Cloud Storage")
COMPUTE_GROUPS = frozenset({"GPU", "CPU", "RAM"})
PRICING_MODELS = {
    "OnDemand": "on_demand",
    "Preemptible": "spot",
    "Commit1Yr": "commitment_1y",
    "Commit3Yr": "commitment_3y",
}
UNITS = {"h": "hour", "GiBy.mo": "GB-month", "GiBy.h": "GB-hour", "mo": "month"}
STORAGE_CLASSES = ("standard", "nearline", "coldline", "archive")
# GPUs attachable to N1 VMs, as their SKUs name them ("Nvidia Tesla T4 GPU running in Americas",
# "... GPU attached to Spot Preemptible VMs ...", "Commitment v1: Nvidia Tesla T4 GPU in ...");
# the group is the model gce_inventory records. Anchored at the start, so SKUs that only
# mention such a GPU (Virtual Workstation licences, reservations) keep their own names.
ATTACHABLE_GPU = re.compile(
    r"(?:Spot Preemptible |Commitment v1: )?Nvidia Tesla (K80|P4|P100|V100|T4) GPU\b",
    re.IGNORECASE,
)


def wanted(family: str, group: str) -> bool:
    return (family == "Compute" and group in COMPUTE_GROUPS) or family == "Storage"


def sku_name(description: str, *, family: str) -> str:
    first = description.split(" ", 1)[0].lower()
    if family == "Storage" and first in STORAGE_CLASSES:
        return first
    attachable = ATTACHABLE_GPU.match(description)
    if family == "Compute" and attachable and "workstation" not in description.lower():
        return gpu_sku(attachable.group(1).upper())
    return description[:256]


def money(units: Any, nanos: Any) -> Decimal:
    return Decimal(int(units or 0)) + Decimal(int(nanos or 0)) / Decimal(10**9)


def price_records(
    skus: Iterable[Any], *, regions: Sequence[str] = (), currency: str
) -> list[PriceRecord]:
    """PriceRecords from ``google.cloud.billing_v1.Sku`` messages."""
    records = []
    for sku in skus:
        category = sku.category
        family = category.resource_family
        model = PRICING_MODELS.get(category.usage_type)
        if model is None or not wanted(family, category.resource_group):
            continue
        if not sku.pricing_info:
            continue
        info = sku.pricing_info[0]
        expression = info.pricing_expression
        if not expression.tiered_rates:
            continue
        rate = expression.tiered_rates[-1].unit_price
        quantity = Decimal(str(expression.display_quantity or 1))
        effective = info.effective_time
        for region in sku.service_regions:
            if regions and region not in regions:
                continue
            records.append(
                PriceRecord(
                    provider="gcp",
                    region=region,
                    sku=sku_name(sku.description, family=family),
                    pricing_model=model,
                    unit=UNITS.get(expression.usage_unit, expression.usage_unit[:32]),
                    price=money(rate.units, rate.nanos) / quantity,
                    currency=rate.currency_code or currency,
                    effective_at=effective.astimezone(dt.UTC),
                    source=CATALOG_SOURCE,
                )
            )
    return records


class GcpCatalogCollector:
    """``spendwatch collect gcp_catalog``: list prices of GPU, compute and storage SKUs."""

    name = "gcp_catalog"
    loads = "prices"
    natural_key: tuple[str, ...] = PRICE_KEY
    lookback = dt.timedelta(0)
    initial_window = dt.timedelta(days=1)

    def __init__(
        self,
        client: Any,
        *,
        currency: str = "USD",
        regions: Sequence[str] = (),
        retry: Any = None,
    ) -> None:
        self.client = client
        self.currency = currency
        self.regions = list(regions)
        self.retry = retry  # google.api_core Retry; None: the client's default

    @classmethod
    def from_settings(cls, settings: Settings) -> GcpCatalogCollector:
        from google.api_core import exceptions
        from google.api_core.retry import Retry, if_exception_type

        retry = Retry(
            predicate=if_exception_type(
                exceptions.TooManyRequests,
                exceptions.ServiceUnavailable,
                exceptions.InternalServerError,
            ),
            initial=1.0,
            maximum=30.0,
            timeout=300.0,
        )
        return cls(
            catalog_client(settings),
            currency=settings.gcp.catalog_currency,
            regions=settings.gcp.catalog_regions,
            retry=retry,
        )

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        skus = list(self._skus())
        records = price_records(skus, regions=self.regions, currency=self.currency)
        counts = load_inventory(engine, price_records=records)
        details = {"skus": len(skus), "currency": self.currency}
        return CollectResult(rows=counts.prices, watermark=until, details=details)

    def _skus(self) -> Iterator[Any]:
        from google.api_core import exceptions
        from google.auth import exceptions as auth_exceptions
        from google.cloud import billing_v1

        options = {"retry": self.retry} if self.retry is not None else {}
        what = "gcp cloud billing catalog"
        try:
            services = [
                service
                for service in self.client.list_services(**options)
                if service.display_name in SERVICES
            ]
            for service in services:
                request = billing_v1.ListSkusRequest(
                    parent=service.name, currency_code=self.currency
                )
                yield from self.client.list_skus(request=request, **options)
        except (exceptions.Unauthorized, auth_exceptions.RefreshError):
            raise SourceError(
                f"{what}: Google refused the credentials (401, expired or invalid); renew the "
                "API key in [gcp] catalog_api_key or run `gcloud auth application-default login`"
            ) from None
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            code = google_error_code(exc)
            raise SourceError(
                f"{what}: the Cloud Billing API answered HTTP {code}; run again later, or "
                "check [gcp] catalog_endpoint"
            ) from None
        except auth_exceptions.TransportError as exc:
            raise SourceError(
                f"{what}: unreachable ({type(exc).__name__}); check [gcp] catalog_endpoint"
            ) from None
