"""Collector names -> factories built from Settings.

Adding a source is one :class:`CollectorSpec` line in :data:`SPECS`. ``spendwatch collect`` with
no names runs every configured one; an unknown name is refused with the list of valid names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from collectors.base import Collector
from warehouse.errors import InputError

if TYPE_CHECKING:
    from spendwatch.config import Settings


def _prometheus(settings: Settings) -> Collector:
    from collectors.prometheus_gpu import PrometheusGpuCollector

    return PrometheusGpuCollector.from_settings(settings)


def _cloudwatch(settings: Settings) -> Collector:
    from collectors.cloudwatch_gpu import CloudWatchGpuCollector

    return CloudWatchGpuCollector.from_settings(settings)


def _price_snapshot(settings: Settings) -> Collector:
    from collectors.price_snapshot import PriceSnapshotCollector

    return PriceSnapshotCollector()


def _aws_inventory(settings: Settings) -> Collector:
    from collectors.aws_inventory import AwsInventoryCollector

    return AwsInventoryCollector.from_settings(settings)


def _aws_prices(settings: Settings) -> Collector:
    from collectors.aws_prices import AwsPricesCollector

    return AwsPricesCollector.from_settings(settings)


def _azure_cost_query(settings: Settings) -> Collector:
    from collectors.azure_cost_query import AzureCostQueryCollector

    return AzureCostQueryCollector.from_settings(settings)


def _azure_exports(settings: Settings) -> Collector:
    from collectors.azure_exports import AzureExportsCollector

    return AzureExportsCollector(settings.azure.exports)


def _gcp_billing_export(settings: Settings) -> Collector:
    from collectors.gcp_billing_export import GcpBillingExportCollector

    return GcpBillingExportCollector.from_settings(settings)


def _gcp_catalog(settings: Settings) -> Collector:
    from collectors.gcp_catalog import GcpCatalogCollector

    return GcpCatalogCollector.from_settings(settings)


def _aws_exports(settings: Settings) -> Collector:
    from collectors.aws_exports import AwsExportsCollector

    return AwsExportsCollector.from_settings(settings)


def _aws_cost_explorer(settings: Settings) -> Collector:
    from collectors.aws_cost_explorer import AwsCostExplorerCollector

    return AwsCostExplorerCollector.from_settings(settings)


def _s3_storage(settings: Settings) -> Collector:
    from collectors.s3_storage import S3StorageCollector

    return S3StorageCollector.from_settings(settings)


def _gce_inventory(settings: Settings) -> Collector:
    from collectors.gce_inventory import GceInventoryCollector

    return GceInventoryCollector.from_settings(settings)


def _azure_inventory(settings: Settings) -> Collector:
    from collectors.azure_inventory import AzureInventoryCollector

    return AzureInventoryCollector.from_settings(settings)


def _azure_prices(settings: Settings) -> Collector:
    from collectors.azure_prices import AzurePricesCollector

    return AzurePricesCollector.from_settings(settings)


@dataclasses.dataclass(frozen=True, slots=True)
class CollectorSpec:
    name: str
    description: str
    factory: Callable[[Settings], Collector]
    is_configured: Callable[[Settings], bool]
    how_to_configure: str  # shown when the source is asked for but not set up


SPECS: tuple[CollectorSpec, ...] = (
    CollectorSpec(
        name="prometheus",
        description="GPU utilization per GPU per hour from dcgm-exporter / nvidia_gpu_exporter",
        factory=_prometheus,
        is_configured=lambda settings: bool(settings.prometheus.url.strip()),
        how_to_configure="set SPENDWATCH_PROMETHEUS__URL or [prometheus] url in spendwatch.toml",
    ),
    CollectorSpec(
        name="cloudwatch",
        description="GPU utilization per GPU per hour from the CloudWatch agent (CWAgent)",
        factory=_cloudwatch,
        is_configured=lambda settings: settings.cloudwatch.enabled,
        how_to_configure="set SPENDWATCH_CLOUDWATCH__ENABLED=true or [cloudwatch] enabled = true",
    ),
    CollectorSpec(
        name="price_snapshot",
        description="the shipped offline prices (AWS 2026-07-20, GCP 2026-07-30) and GPU shapes",
        factory=_price_snapshot,
        is_configured=lambda settings: True,
        how_to_configure="nothing to configure",
    ),
    CollectorSpec(
        name="aws_inventory",
        description="EC2 instances with GPU count/model/memory, lifecycle, tags and owner",
        factory=_aws_inventory,
        is_configured=lambda settings: settings.aws.inventory,
        how_to_configure="set SPENDWATCH_AWS__INVENTORY=true or [aws] inventory = true",
    ),
    CollectorSpec(
        name="aws_prices",
        description="EC2 on-demand (Pricing API, snapshot fallback) and 30-day p90 spot prices",
        factory=_aws_prices,
        is_configured=lambda settings: settings.aws.inventory,
        how_to_configure="set SPENDWATCH_AWS__INVENTORY=true or [aws] inventory = true",
    ),
    CollectorSpec(
        name="aws_exports",
        description="AWS Data Exports (FOCUS, CUR 2.0) and legacy CUR in S3, changed months only",
        factory=_aws_exports,
        is_configured=lambda settings: bool(settings.aws.exports),
        how_to_configure=(
            'set [aws] exports = [{ bucket = "...", prefix = "...", name = "...", '
            'format = "focus" }] in spendwatch.toml, or SPENDWATCH_AWS__EXPORTS as JSON'
        ),
    ),
    CollectorSpec(
        name="aws_cost_explorer",
        description="AWS Cost Explorer: daily cost by service and linked account, USD 0.01 a call",
        factory=_aws_cost_explorer,
        is_configured=lambda settings: settings.aws.cost_explorer,
        how_to_configure="set SPENDWATCH_AWS__COST_EXPLORER=true or [aws] cost_explorer = true",
    ),
    CollectorSpec(
        name="s3_storage",
        description="S3 bytes, objects and ages per prefix and class (inventory report or listing)",
        factory=_s3_storage,
        is_configured=lambda settings: settings.aws.storage or bool(settings.aws.storage_buckets),
        how_to_configure=(
            'set [aws] storage_buckets = ["bucket", ...] (or storage = true for every bucket) '
            "in spendwatch.toml, or SPENDWATCH_AWS__STORAGE_BUCKETS='[\"bucket\"]'"
        ),
    ),
    CollectorSpec(
        name="azure_cost_query",
        description="Azure daily actual + amortized cost per resource (Cost Management query)",
        factory=_azure_cost_query,
        is_configured=lambda settings: bool(settings.azure.scopes),
        how_to_configure="set SPENDWATCH_AZURE__SCOPES or [azure] scopes in spendwatch.toml",
    ),
    CollectorSpec(
        name="azure_exports",
        description="Azure Cost Management exports: EA/MCA actual or amortized cost CSV, FOCUS",
        factory=_azure_exports,
        is_configured=lambda settings: bool(settings.azure.exports),
        how_to_configure="set SPENDWATCH_AZURE__EXPORTS or [azure] exports in spendwatch.toml",
    ),
    CollectorSpec(
        name="gcp_billing_export",
        description="GCP daily cost per project/service/SKU(/resource) from the BigQuery export",
        factory=_gcp_billing_export,
        is_configured=lambda settings: bool(settings.gcp.billing_export_table.strip()),
        how_to_configure="set SPENDWATCH_GCP__BILLING_EXPORT_TABLE or [gcp] billing_export_table",
    ),
    CollectorSpec(
        name="gcp_catalog",
        description="GCP GPU, compute and storage SKU prices from the Cloud Billing Catalog API",
        factory=_gcp_catalog,
        is_configured=lambda settings: settings.gcp.catalog,
        how_to_configure="set SPENDWATCH_GCP__CATALOG=true or [gcp] catalog = true",
    ),
    CollectorSpec(
        name="gce_inventory",
        description="Compute Engine instances with GPU count/model/memory, lifecycle, labels",
        factory=_gce_inventory,
        is_configured=lambda settings: settings.gcp.inventory,
        how_to_configure="set SPENDWATCH_GCP__INVENTORY=true or [gcp] inventory = true",
    ),
    CollectorSpec(
        name="azure_inventory",
        description="Azure VMs with GPU count/model/memory, lifecycle, tags and power state",
        factory=_azure_inventory,
        is_configured=lambda settings: settings.azure.inventory,
        how_to_configure="set SPENDWATCH_AZURE__INVENTORY=true or [azure] inventory = true",
    ),
    CollectorSpec(
        name="azure_prices",
        description="Azure GPU VM on-demand and spot prices from the public Retail Prices API",
        factory=_azure_prices,
        is_configured=lambda settings: (
            settings.azure.inventory or bool(settings.azure.price_regions)
        ),
        how_to_configure='set [azure] inventory = true or [azure] price_regions = ["eastus"]',
    ),
)
REGISTRY: dict[str, CollectorSpec] = {spec.name: spec for spec in SPECS}


def collector_names() -> list[str]:
    return sorted(REGISTRY)


def spec_for(name: str) -> CollectorSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(
            f"unknown collector {name!r}; valid names: {', '.join(collector_names())}"
        ) from None


def configured_names(settings: Settings) -> list[str]:
    return [name for name in collector_names() if REGISTRY[name].is_configured(settings)]


def build_collector(name: str, settings: Settings) -> Collector:
    """The collector called ``name``, or an InputError saying what is wrong with the name."""
    spec = spec_for(name)
    if not spec.is_configured(settings):
        raise InputError(f"collector {name!r} is not configured; {spec.how_to_configure}")
    return spec.factory(settings)
