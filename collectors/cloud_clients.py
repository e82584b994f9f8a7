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

import datetime as dt
import email.utils
import ipaddress
import json
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
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


# Every Azure client signs in through DefaultAzureCredential, so a refused token has one fix.
AZURE_CREDENTIALS_REFUSED = (
    "Azure refused the credentials (401, token expired or invalid); sign in again (az login, "
    "or refresh DefaultAzureCredential's identity)"
)


def google_error_code(exc: Exception) -> int | str:
    """The HTTP code of a google-api-core error (of the last attempt when retries ran out), or
    the error's class name when it has none."""
    from google.api_core import exceptions

    cause = exc.cause if isinstance(exc, exceptions.RetryError) else exc
    code: int | None = getattr(cause, "code", None)
    return code or type(cause).__name__


def google_credentials(endpoint: str = "", *, scopes: Sequence[str] | None = None) -> Any:
    """Application Default Credentials; anonymous only for a loopback endpoint override."""
    if endpoint and is_loopback(endpoint):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    import google.auth

    credentials, _project = google.auth.default(scopes=scopes)
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


def compute_management_client(
    settings: Settings,
    subscription_id: str,
    *,
    credential: Any = None,
    retry_total: int = 4,
    retry_backoff_factor: float = 0.8,
) -> Any:
    """A ``ComputeManagementClient`` for one subscription on ``[azure] management_endpoint``.

    azure-core's RetryPolicy already honours a 429's Retry-After and retries 5xx on a GET."""
    from azure.mgmt.compute import ComputeManagementClient

    return ComputeManagementClient(
        credential=credential if credential is not None else azure_credential(),
        subscription_id=subscription_id,
        base_url=settings.azure.management_endpoint.rstrip("/"),
        retry_policy=RetryPolicy(
            retry_total=retry_total, retry_backoff_factor=retry_backoff_factor
        ),
    )


GCE_SCOPES = ("https://www.googleapis.com/auth/compute.readonly",)


def gce_rest_client(settings: Settings, *, credentials: Any = None) -> RestJsonClient:
    """The Compute Engine REST API (``[gcp] compute_endpoint``) with ADC bearer tokens."""
    endpoint = settings.gcp.compute_endpoint.strip().rstrip("/")
    if credentials is None:
        credentials = google_credentials(endpoint, scopes=GCE_SCOPES)
    return RestJsonClient(endpoint, name="Compute Engine API", credentials=credentials)


def retail_prices_client(settings: Settings) -> RestJsonClient:
    """The Azure Retail Prices API: public, no credentials."""
    return RestJsonClient(
        settings.azure.retail_prices_endpoint.strip(), name="Azure Retail Prices API"
    )


class ApiError(Exception):
    """A REST call that failed for good: ``status`` None means the host was never reached."""

    def __init__(
        self, status: int | None, detail: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(f"HTTP {status}: {detail}" if status else detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after  # seconds the server asked for, when it did


class RestJsonClient:
    """GET JSON with retries: 429 and 5xx wait for Retry-After (else exponential backoff), as
    do connection errors; any other non-200 is an :class:`ApiError` at once. Numbers in the
    answer are parsed as Decimal, so prices never pass through float.

    ``credentials`` is a google-auth credentials object (its ``before_request`` refreshes and
    adds the bearer token); None sends no Authorization header.
    """

    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        credentials: Any = None,
        retries: int = 4,
        backoff_seconds: float = 1.0,
        max_wait_seconds: float = 60.0,
        timeout_seconds: float = 60.0,
        transport: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.name = name
        self.credentials = credentials
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.max_wait_seconds = max_wait_seconds
        self.requests = 0  # requests sent, retries included (run details)
        self._sleep = sleep
        self._http = httpx.Client(timeout=timeout_seconds, transport=transport)

    def close(self) -> None:
        self._http.close()

    def get_json(self, url: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET ``url`` (absolute, or a path under the base URL) and return the JSON object."""
        import httpx

        if not url.startswith(("http://", "https://")):
            url = self.base_url + url
        problem: ApiError | None = None
        for attempt in range(self.retries + 1):
            if attempt and problem is not None:
                self._sleep(self._wait(attempt, problem))
            headers = self._auth_headers(url)
            self.requests += 1
            try:
                response = self._http.get(url, params=params, headers=headers)
            except httpx.TransportError as exc:
                problem = ApiError(None, f"unreachable ({type(exc).__name__})")
                continue
            if response.status_code == 429 or response.status_code >= 500:
                wait = _retry_after(response.headers.get("Retry-After"))
                problem = ApiError(response.status_code, _error_text(response), retry_after=wait)
                continue
            if response.status_code != 200:
                raise ApiError(response.status_code, _error_text(response))
            try:
                document = json.loads(response.content, parse_float=Decimal)
            except ValueError:
                raise ApiError(200, "the answer is not JSON") from None
            if not isinstance(document, dict):
                raise ApiError(200, "the answer is not a JSON object")
            return document
        assert problem is not None
        raise ApiError(problem.status, f"{problem.detail} after {self.retries + 1} attempts")

    def _wait(self, attempt: int, problem: ApiError) -> float:
        told = problem.retry_after
        wait = told if told is not None else self.backoff_seconds * 2 ** (attempt - 1)
        return min(wait, self.max_wait_seconds)

    def _auth_headers(self, url: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.credentials is not None:
            from google.auth.transport.requests import Request

            # Refreshes an expired token first; anonymous credentials add nothing.
            self.credentials.before_request(Request(), "GET", url, headers)
        return headers


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, given as a number or as an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _error_text(response: Any) -> str:
    """The API's own message (Google ``error.message``, Azure ``error.message``/``Message``)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or error.get("code") or "")
        elif error:
            message = str(error)
        message = message or str(body.get("Message") or body.get("message") or "")
    text = message or response.text[:200] or response.reason_phrase
    return " ".join(str(text).split())[:300]


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
