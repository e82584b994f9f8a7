"""GCP Cloud Billing export in BigQuery -> FOCUS, aggregated inside BigQuery.

One parameterized query per run sums the export per day, billing account, invoice month,
project, service, SKU, region, cost type, currency, usage unit and team label (plus resource in
the detailed, resource-level table), so only those aggregates leave BigQuery, never raw rows.
Google's FOCUS view is read the same way with its own column names.

* Whole invoice months only: the load replaces each (account, month) it delivers, so the query
  selects ``invoice.month IN UNNEST(@invoice_months)``; ``_PARTITIONTIME >= @partition_from``
  (a day before the first month) lets BigQuery prune partitions, with no upper bound because
  late usage lands in later partitions.
* Money: the export's ``cost`` is FLOAT64; it is cast to NUMERIC (9 decimals) before summing,
  so BigQuery returns exact decimals as strings and no float reaches Python.
* Credits (``credits[].amount``, negative) are netted, as ``conversion_rules_gcp.csv`` maps
  them: BilledCost is ``cost``, EffectiveCost is ``cost + credits``; the credit total is kept
  in ``x_extra.x_Credits`` so nothing is lost.
* Invoice months are Pacific time (the converter rules assign America/Los_Angeles), so
  BillingPeriodStart of 2024-03 is 2024-03-01T08:00Z.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy.engine import Engine

from collectors.base import CollectResult
from collectors.cloud_clients import bigquery_client, focus_batch, google_error_code
from warehouse.errors import InputError, SourceError
from warehouse.load import load_focus_batches

if TYPE_CHECKING:
    from spendwatch.config import Settings

EXPORT_SOURCE = "gcp-billing-export"
GOOGLE = "Google Cloud"
PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")
SERVICE_CATEGORY = {  # gcp_category_mapping.csv, the services GPU fleets and ML storage use
    "Compute Engine": "Compute",
    "Kubernetes Engine": "Compute",
    "Cloud Storage": "Storage",
    "BigQuery": "Databases",
    "Vertex AI": "AI and Machine Learning",
    "Cloud TPU": "AI and Machine Learning",
    "Networking": "Networking",
    "Cloud DNS": "Networking",
    "Cloud CDN": "Networking",
}
_CHARGE_CATEGORY = {"regular": "Usage", "tax": "Tax", "adjustment": "Adjustment"}

_EXPORT_SELECT = """
SELECT
  DATE(usage_start_time) AS usage_date,
  billing_account_id,
  invoice.month AS invoice_month,
  project.id AS project_id,
  project.name AS project_name,
  service.description AS service,
  sku.id AS sku_id,
  sku.description AS sku,
  location.region AS region,{resource}
  cost_type,
  currency,
  usage.unit AS usage_unit,
  (SELECT l.value FROM UNNEST(labels) AS l WHERE l.key = @team_label LIMIT 1) AS team,
  SUM(CAST(cost AS NUMERIC)) AS cost,
  SUM(IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) AS c), 0)) AS credits,
  SUM(CAST(usage.amount AS NUMERIC)) AS usage_amount
FROM `{table}`
WHERE _PARTITIONTIME >= @partition_from
  AND invoice.month IN UNNEST(@invoice_months)
GROUP BY usage_date, billing_account_id, invoice_month, project_id, project_name, service,
  sku_id, sku, region,{resource_key} cost_type, currency, usage_unit, team
"""

_FOCUS_SELECT = """
SELECT
  DATE(ChargePeriodStart) AS usage_date,
  BillingAccountId AS billing_account_id,
  FORMAT_TIMESTAMP('%Y%m', BillingPeriodStart, 'America/Los_Angeles') AS invoice_month,
  SubAccountId AS project_id,
  SubAccountName AS project_name,
  ServiceName AS service,
  SkuId AS sku_id,
  ChargeDescription AS sku,
  RegionId AS region,
  ResourceId AS resource_id,
  ChargeCategory AS cost_type,
  BillingCurrency AS currency,
  ConsumedUnit AS usage_unit,
  CAST(NULL AS STRING) AS team,
  SUM(CAST(BilledCost AS NUMERIC)) AS cost,
  SUM(CAST(EffectiveCost AS NUMERIC)) - SUM(CAST(BilledCost AS NUMERIC)) AS credits,
  SUM(CAST(ConsumedQuantity AS NUMERIC)) AS usage_amount
FROM `{table}`
WHERE FORMAT_TIMESTAMP('%Y%m', BillingPeriodStart, 'America/Los_Angeles')
  IN UNNEST(@invoice_months)
GROUP BY usage_date, billing_account_id, invoice_month, project_id, project_name, service,
  sku_id, sku, region, resource_id, cost_type, currency, usage_unit, team
"""


def export_format(table: str, configured: str = "auto") -> str:
    if configured != "auto":
        return configured
    name = table.strip("`").rsplit(".", 1)[-1].lower()
    if name.startswith("gcp_billing_export_resource_"):
        return "detailed"
    if "focus" in name:
        return "focus"
    return "standard"


def checked_table(table: str) -> str:
    """``project.dataset.table``; it is written into SQL text, so only safe characters pass."""
    bare = table.strip().strip("`")
    parts = bare.split(".")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    if len(parts) != 3 or not all(part and set(part) <= allowed for part in parts):
        raise InputError(
            f"[gcp] billing_export_table {table!r} must look like project.dataset.table"
        )
    return bare


def aggregate_sql(table: str, *, kind: str) -> str:
    if kind == "focus":
        return _FOCUS_SELECT.format(table=checked_table(table))
    detailed = kind == "detailed"
    return _EXPORT_SELECT.format(
        table=checked_table(table),
        resource="\n  resource.global_name AS resource_id," if detailed else "",
        resource_key=" resource_id," if detailed else "",
    )


def invoice_months(since: dt.datetime, until: dt.datetime) -> list[str]:
    """The Pacific-time invoice months ``[since, until)`` touches, as YYYYMM."""
    first = since.astimezone(PACIFIC).date().replace(day=1)
    last = (until - dt.timedelta(microseconds=1)).astimezone(PACIFIC).date()
    months = []
    while first <= last:
        months.append(f"{first:%Y%m}")
        first = (first + dt.timedelta(days=32)).replace(day=1)
    return months


def period_start(invoice_month: str) -> dt.datetime:
    local = dt.datetime(int(invoice_month[:4]), int(invoice_month[4:]), 1, tzinfo=PACIFIC)
    return local.astimezone(dt.UTC)


def period_end(invoice_month: str) -> dt.datetime:
    year, month = int(invoice_month[:4]), int(invoice_month[4:])
    following = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=PACIFIC)
    return following.astimezone(dt.UTC)


def query_parameters(months: Sequence[str], *, team_label: str, kind: str) -> list[Any]:
    from google.cloud import bigquery

    first = period_start(min(months)) - dt.timedelta(days=1)
    parameters: list[Any] = [bigquery.ArrayQueryParameter("invoice_months", "STRING", months)]
    if kind != "focus":
        parameters += [
            bigquery.ScalarQueryParameter("partition_from", "TIMESTAMP", first),
            bigquery.ScalarQueryParameter("team_label", "STRING", team_label),
        ]
    return parameters


def focus_row(row: Mapping[str, Any], *, team_label: str) -> dict[str, Any]:
    day = row["usage_date"]
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    cost = Decimal(row["cost"] or 0)
    credits = Decimal(row["credits"] or 0)
    sku = row.get("sku") or ""
    lowered = sku.lower()
    kind = str(row.get("cost_type") or "regular")
    category = _CHARGE_CATEGORY.get(kind.lower(), kind if kind[:1].isupper() else "Adjustment")
    if "spot" in lowered or "preemptible" in lowered:
        pricing = "Dynamic"
    elif "commitment" in lowered:
        pricing = "Committed"
    else:
        pricing = "Standard"
    extra = {"x_Credits": format(credits, "f")} if credits else {}
    return {
        "billed_cost": cost,
        "effective_cost": cost + credits,
        "billing_currency": str(row["currency"]).upper(),
        "billing_account_id": row["billing_account_id"],
        "billing_period_start": period_start(row["invoice_month"]),
        "billing_period_end": period_end(row["invoice_month"]),
        "charge_period_start": start,
        "charge_period_end": start + dt.timedelta(days=1),
        "charge_category": category,
        "charge_description": sku or None,
        "pricing_category": pricing if category == "Usage" else None,
        "sub_account_id": row.get("project_id"),
        "sub_account_name": row.get("project_name"),
        "service_name": row.get("service"),
        "service_category": SERVICE_CATEGORY.get(row.get("service") or "", "Other"),
        "sku_id": row.get("sku_id"),
        "region_id": row.get("region"),
        "resource_id": row.get("resource_id"),
        "consumed_quantity": row.get("usage_amount"),
        "consumed_unit": row.get("usage_unit"),
        "provider_name": GOOGLE,
        "publisher_name": GOOGLE,
        "invoice_issuer_name": "Google",
        "tags": {team_label: row["team"]} if row.get("team") else None,
        "x_extra": extra or None,
    }


class GcpBillingExportCollector:
    """``spendwatch collect gcp_billing_export``: daily aggregates of the BigQuery export."""

    name = "gcp_billing_export"
    loads = "cost_line_items"
    natural_key: tuple[str, ...] = ("billing_account_id", "billing_period_start")
    lookback = dt.timedelta(days=3)  # the export is refreshed for days after usage
    initial_window = dt.timedelta(days=31)

    def __init__(
        self,
        client: Any,
        *,
        table: str,
        kind: str,
        team_label: str,
        retries: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        # query_and_wait's ``retry`` and ``job_retry``; BigQuery's defaults when absent
        self.retries = dict(retries or {})
        self.table = table
        self.kind = kind
        self.team_label = team_label

    @classmethod
    def from_settings(cls, settings: Settings) -> GcpBillingExportCollector:
        table = settings.gcp.billing_export_table
        return cls(
            bigquery_client(settings),
            table=table,
            kind=export_format(table, settings.gcp.billing_export_format),
            team_label=settings.tags.team,
        )

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        months = invoice_months(since, until)
        result = load_focus_batches(
            engine,
            self._batches(months),
            source=EXPORT_SOURCE,
            details={"table": self.table, "invoice_months": months},
        )
        return CollectResult(
            rows=result.rows,
            watermark=until,
            details={"invoice_months": months, "replaced_rows": result.replaced_rows},
        )

    def _batches(self, months: Sequence[str]) -> Iterator[pa.RecordBatch]:
        rows: list[dict[str, Any]] = []
        for row in self._query(months):
            rows.append(focus_row(row, team_label=self.team_label))
            if len(rows) >= 50_000:
                yield focus_batch(rows)
                rows = []
        if rows:
            yield focus_batch(rows)

    def _query(self, months: Sequence[str]) -> Iterator[Mapping[str, Any]]:
        from google.api_core import exceptions as api_exceptions
        from google.auth import exceptions as auth_exceptions
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=query_parameters(months, team_label=self.team_label, kind=self.kind)
        )
        what = f"gcp billing export {self.table} {min(months)}..{max(months)}"
        try:
            for row in self.client.query_and_wait(
                aggregate_sql(self.table, kind=self.kind), job_config=config, **self.retries
            ):
                yield dict(row.items())
        except (api_exceptions.Unauthorized, auth_exceptions.RefreshError):
            raise SourceError(
                f"{what}: Google refused the credentials (401, expired or invalid); run "
                "`gcloud auth application-default login` or renew the service account key"
            ) from None
        except api_exceptions.Forbidden:
            raise SourceError(
                f"{what}: access denied (403); grant BigQuery Data Viewer on the export dataset "
                "and BigQuery Job User on the project"
            ) from None
        except (api_exceptions.GoogleAPICallError, api_exceptions.RetryError) as exc:
            code = google_error_code(exc)
            raise SourceError(
                f"{what}: BigQuery answered HTTP {code}; run again later, or check "
                "[gcp] billing_export_table"
            ) from None
        except auth_exceptions.TransportError as exc:
            raise SourceError(
                f"{what}: BigQuery could not be reached ({type(exc).__name__}); check "
                "[gcp] bigquery_endpoint and the network"
            ) from None
