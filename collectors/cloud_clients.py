"""Credentials and SDK clients for Azure and Google Cloud, built in one place from Settings.

Credentials always come from each SDK's own chain (``DefaultAzureCredential``, Google
Application Default Credentials); collectors receive ready clients and never build their own.
Every client honours the endpoint override in settings, which is how tests and air-gapped users
point them at a local server.

Azure Cost Management throttles with its own headers: a 429 carries
``x-ms-ratelimit-microsoft.costmanagement-{qpu,entity,tenant}-retry-after`` and often no
``Retry-After``. azure-core's RetryPolicy reads only ``Retry-After``/``retry-after-ms`` and never
retries a POST on 429 without one, and the Query API is a POST; so :class:`CostManagementRetry`
waits for the longest of those headers and retries the (read-only) query.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import RetryPolicy

if TYPE_CHECKING:
    from spendwatch.config import Settings

COST_MANAGEMENT_RETRY_HEADERS = tuple(
    f"x-ms-ratelimit-microsoft.costmanagement-{kind}-retry-after"
    for kind in ("qpu", "entity", "tenant", "client")
)


def is_loopback(url: str) -> bool:
    """True for http(s)://127.0.0.1, ::1 or localhost: a local stub, never a real cloud."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def call_options(endpoint: str) -> dict[str, Any]:
    """Per-call options for an Azure client: bearer auth over plain http only to loopback."""
    if endpoint.startswith("http://") and is_loopback(endpoint):
        return {"enforce_https": False}
    return {}


class CostManagementRetry(RetryPolicy):
    """azure-core's RetryPolicy, plus Cost Management's own 429 headers (longest wins)."""

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        standard: float | None = super().get_retry_after(response)
        waits = [standard] if standard is not None else []
        headers = response.http_response.headers
        for name in COST_MANAGEMENT_RETRY_HEADERS:
            value = headers.get(name)
            if value:
                try:
                    waits.append(float(value))
                except ValueError:
                    continue
        return max(waits) if waits else None

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        status = response.http_response.status_code
        if status == 429 and settings["total"]:
            return True  # the query is read-only, so a POST is safe to repeat
        if status in (502, 503, 504) and settings["total"]:
            return True
        return bool(super().is_retry(settings, response))


def azure_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def cost_management_client(
    settings: Settings,
    *,
    credential: Any = None,
    retry_total: int = 4,
    retry_backoff_factor: float = 0.8,
) -> Any:
    """A ``CostManagementClient`` on ``[azure] management_endpoint`` with our retry policy."""
    from azure.mgmt.costmanagement import CostManagementClient

    return CostManagementClient(
        credential=credential if credential is not None else azure_credential(),
        base_url=settings.azure.management_endpoint.rstrip("/"),
        retry_policy=CostManagementRetry(
            retry_total=retry_total, retry_backoff_factor=retry_backoff_factor
        ),
    )


def google_credentials(endpoint: str = "") -> Any:
    """Application Default Credentials; anonymous only for a loopback endpoint override."""
    if endpoint and is_loopback(endpoint):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    import google.auth

    credentials, _project = google.auth.default()
    return credentials


def export_project(table: str) -> str:
    """``proj.dataset.table`` (or with backticks) -> ``proj``."""
    return table.strip("`").split(".")[0]


def bigquery_client(settings: Settings, *, credentials: Any = None) -> Any:
    """A BigQuery client running jobs in ``[gcp] project`` (default: the export's project)."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery

    endpoint = settings.gcp.bigquery_endpoint.strip()
    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    return bigquery.Client(
        project=settings.gcp.project or export_project(settings.gcp.billing_export_table),
        credentials=credentials if credentials is not None else google_credentials(endpoint),
        client_options=options,
    )


def catalog_client(settings: Settings, *, credentials: Any = None) -> Any:
    """A Cloud Billing ``CloudCatalogClient`` over REST: an API key if set, else ADC."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import billing_v1

    endpoint = settings.gcp.catalog_endpoint.strip()
    api_key = settings.gcp.catalog_api_key.get_secret_value()
    options = ClientOptions(api_endpoint=endpoint or None, api_key=api_key or None)
    if credentials is None and not api_key:
        credentials = google_credentials(endpoint)
    return billing_v1.CloudCatalogClient(
        credentials=credentials, transport="rest", client_options=options
    )


# --- rows from cloud APIs -> the normalized FOCUS batch shape of collectors.focus_files -----------


def focus_batch(rows: list[dict[str, Any]]) -> Any:
    """A RecordBatch of warehouse columns: Decimal -> decimal text, datetimes -> UTC micros,
    dicts -> JSON text, everything else text. Only columns some row has are included."""
    import json
    from decimal import Decimal

    import pyarrow as pa

    from collectors.focus_convert import UTC_MICROS
    from warehouse.schema import FOCUS_JSON_COLUMNS, FOCUS_TIME_COLUMNS

    names = sorted({name for row in rows for name in row})
    arrays: dict[str, Any] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if name in FOCUS_TIME_COLUMNS:
            arrays[name] = pa.array(values, UTC_MICROS)
            continue
        if name in FOCUS_JSON_COLUMNS or name == "x_extra":
            texts = [None if v is None else json.dumps(v, sort_keys=True) for v in values]
        else:
            texts = [
                None if v is None else format(v, "f") if isinstance(v, Decimal) else str(v)
                for v in values
            ]
        arrays[name] = pa.array(texts, pa.string())
    return pa.RecordBatch.from_pydict(arrays)
