"""Azure Cost Management Query API -> FOCUS: daily cost per resource, pushed down to Azure.

For each configured scope (subscription or billing account) and each calendar month the window
touches, two queries run: ``ActualCost`` (-> BilledCost) and ``AmortizedCost`` (-> EffectiveCost),
Daily, grouped by ResourceId, MeterCategory, PricingModel, ChargeType and the team tag. Their
rows are joined on those keys, so a reservation purchase keeps its billed cost while the usage it
covers carries the amortized cost.

* Whole months only: the load replaces each (account, month) it delivers, so a partial month
  would delete the days it did not re-read. A scope's months are one delivery.
* The account key is the scope itself, so two subscriptions never replace each other's months.
* ``nextLink`` is not followed by the SDK: the same body is POSTed to it until it is absent.
* Amounts are read from the response text as exact decimals (the SDK's model holds floats).
* Throttling: see :class:`collectors.cloud_clients.CostManagementRetry`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy.engine import Engine

from collectors.azure_focus_values import (
    AZURE,
    COMMITMENT_MODELS,
    charge_category,
    month_start,
    namespace_of,
    next_month,
    pricing_category,
    service_category,
)
from collectors.base import CollectResult
from collectors.cloud_clients import (
    AZURE_CREDENTIALS_REFUSED,
    call_options,
    cost_management_client,
    focus_batch,
)
from warehouse.errors import SourceError
from warehouse.load import load_focus_batches

if TYPE_CHECKING:
    from spendwatch.config import Settings

QUERY_SOURCE = "azure-cost-query"
COST_TYPES = {"ActualCost": "billed_cost", "AmortizedCost": "effective_cost"}
DIMENSIONS = ("ResourceId", "MeterCategory", "PricingModel", "ChargeType")
_COST_COLUMNS = ("totalcost", "cost", "pretaxcost", "costusd", "pretaxcostusd")


def query_body(cost_type: str, *, start: dt.date, end: dt.date, team_tag: str) -> dict[str, Any]:
    """The QueryDefinition for one month: ``start`` .. ``end`` inclusive, as Azure counts."""
    grouping = [{"type": "Dimension", "name": name} for name in DIMENSIONS]
    grouping.append({"type": "TagKey", "name": team_tag})
    return {
        "type": cost_type,
        "timeframe": "Custom",
        "timePeriod": {
            "from": f"{start.isoformat()}T00:00:00Z",
            "to": f"{end.isoformat()}T23:59:59Z",
        },
        "dataset": {
            "granularity": "Daily",
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
            "grouping": grouping,
        },
    }


def months(since: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    """Starts of the calendar months that ``[since, until)`` touches."""
    first = month_start(since.astimezone(dt.UTC).date())
    last = (until.astimezone(dt.UTC) - dt.timedelta(microseconds=1)).date()
    result = []
    while first.date() <= last:
        result.append(first)
        first = next_month(first)
    return result


def parse_page(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of one Query API answer as dicts keyed by lower-case column name, and nextLink."""
    document = json.loads(text, parse_float=Decimal) if text.strip() else {}
    properties = document.get("properties") or {}
    names = [column["name"].lower() for column in properties.get("columns") or []]
    rows = [dict(zip(names, row, strict=False)) for row in properties.get("rows") or []]
    return rows, properties.get("nextLink") or None


class CostQuery:
    """Runs one scope's queries through a ``CostManagementClient``, following ``nextLink``."""

    def __init__(self, client: Any, *, endpoint: str) -> None:
        self.client = client
        self.options = call_options(endpoint)
        self.requests = 0

    def rows(self, scope: str, body: Mapping[str, Any], *, what: str) -> Iterator[dict[str, Any]]:
        from azure.core.rest import HttpRequest
        from azure.mgmt.costmanagement.models import QueryDefinition

        text = self._call(
            what,
            lambda: self.client.query.usage(
                scope.strip("/"),
                QueryDefinition(dict(body)),
                cls=lambda pipeline_response, _model, _headers: pipeline_response.http_response,
                **self.options,
            ).text(),
        )
        while True:
            rows, next_link = parse_page(text)
            yield from rows
            if not next_link:
                return
            request = HttpRequest("POST", next_link, json=dict(body))
            text = self._call(what, functools.partial(self._checked, request))

    def _checked(self, request: Any) -> str:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

        response = self.client.send_request(request, **self.options)
        if response.status_code == 401:
            raise ClientAuthenticationError(response=response)
        if response.status_code >= 400:
            raise HttpResponseError(response=response)
        return str(response.text())

    def _call(self, what: str, call: Any) -> str:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
        )

        self.requests += 1
        try:
            return str(call())
        except ClientAuthenticationError:
            raise SourceError(f"{what}: {AZURE_CREDENTIALS_REFUSED}") from None
        except HttpResponseError as exc:
            status = exc.status_code
            if status == 403:
                todo = "grant the identity Cost Management Reader on the scope"
            elif status == 429:
                todo = "Azure is still throttling after retries; run again later"
            elif status is not None and status >= 500:
                todo = "Cost Management is failing; run again later"
            else:
                todo = "check the scope in [azure] scopes"
            raise SourceError(f"{what}: Cost Management answered HTTP {status}; {todo}") from None
        except ServiceRequestError as exc:
            raise SourceError(
                f"{what}: Cost Management could not be reached ({type(exc).__name__}); check "
                "[azure] management_endpoint and the network"
            ) from None


def focus_rows(
    actual: Sequence[Mapping[str, Any]],
    amortized: Sequence[Mapping[str, Any]],
    *,
    scope: str,
    period_start: dt.datetime,
    team_tag: str,
) -> list[dict[str, Any]]:
    """Join the two cost types on (day, groupings) into FOCUS rows for one scope and month."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for column, rows in (("billed_cost", actual), ("effective_cost", amortized)):
        for row in rows:
            # every answered column but the cost is a grouping key (whatever Azure sent back)
            key = tuple(sorted((k, str(v)) for k, v in row.items() if k not in _COST_COLUMNS))
            entry = merged.setdefault(key, {"row": row, "billed_cost": 0, "effective_cost": 0})
            entry[column] += _cost(row)
    return [
        _focus_row(
            entry["row"],
            billed=Decimal(entry["billed_cost"]),
            effective=Decimal(entry["effective_cost"]),
            scope=scope,
            period_start=period_start,
            team_tag=team_tag,
        )
        for entry in merged.values()
    ]


def _cost(row: Mapping[str, Any]) -> Decimal:
    for name in _COST_COLUMNS:
        if row.get(name) is not None:
            return Decimal(str(row[name]))
    raise SourceError(f"Cost Management answered rows without a cost column: {sorted(row)}")


def _focus_row(
    row: Mapping[str, Any],
    *,
    billed: Decimal,
    effective: Decimal,
    scope: str,
    period_start: dt.datetime,
    team_tag: str,
) -> dict[str, Any]:
    day = dt.datetime.strptime(str(row["usagedate"]), "%Y%m%d").replace(tzinfo=dt.UTC)
    category = charge_category(row.get("chargetype"))
    model = row.get("pricingmodel")
    resource = row.get("resourceid") or None
    tag = row.get("tagvalue")
    sub_account = scope.split("/")[2] if scope.lower().startswith("/subscriptions/") else None
    extra = {
        f"x_{name}": row[name.lower()]
        for name in ("MeterCategory", "PricingModel", "ResourceGroup")
        if row.get(name.lower())
    }
    return {
        "billed_cost": billed,
        "effective_cost": effective,
        "billing_currency": str(row.get("currency") or row.get("billingcurrency") or "USD").upper(),
        "billing_account_id": scope.strip("/"),
        "sub_account_id": sub_account,
        "billing_period_start": period_start,
        "billing_period_end": next_month(period_start),
        "charge_period_start": day,
        "charge_period_end": day + dt.timedelta(days=1),
        "charge_category": category,
        "charge_frequency": "Usage-Based" if category == "Usage" else None,
        "pricing_category": pricing_category(model, category),
        "commitment_discount_type": COMMITMENT_MODELS.get((model or "").lower()),
        "resource_id": resource,
        "resource_name": resource.rstrip("/").rsplit("/", 1)[-1] if resource else None,
        "service_name": row.get("metercategory"),
        "service_category": service_category(namespace_of(resource)),
        "provider_name": AZURE,
        "publisher_name": AZURE,
        "invoice_issuer_name": AZURE,
        "tags": {team_tag: tag} if tag else None,
        "x_extra": extra or None,
    }


class AzureCostQueryCollector:
    """``spendwatch collect azure_cost_query``: daily resource costs for ``[azure] scopes``."""

    name = "azure_cost_query"
    loads = "cost_line_items"
    natural_key: tuple[str, ...] = ("billing_account_id", "billing_period_start")
    lookback = dt.timedelta(days=5)  # Azure finalizes a day's usage up to 72 hours late
    initial_window = dt.timedelta(days=31)

    def __init__(self, client: Any, *, scopes: Sequence[str], endpoint: str, team_tag: str):
        self.client = client
        self.scopes = list(scopes)
        self.endpoint = endpoint
        self.team_tag = team_tag

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureCostQueryCollector:
        return cls(
            cost_management_client(settings),
            scopes=settings.azure.scopes,
            endpoint=settings.azure.management_endpoint,
            team_tag=settings.tags.team,
        )

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        query = CostQuery(self.client, endpoint=self.endpoint)
        rows = 0
        details: dict[str, Any] = {"scopes": {}}
        failures: list[str] = []
        for scope in self.scopes:
            try:  # one scope's failure must not stop the others
                result = load_focus_batches(
                    engine,
                    self._batches(query, scope, months(since, until)),
                    source=QUERY_SOURCE,
                    details={"scope": scope},
                )
            except SourceError as exc:
                failures.append(str(exc))
                details["scopes"][scope] = {"error": str(exc)}
                continue
            rows += result.rows
            details["scopes"][scope] = {"rows": result.rows, "replaced": result.replaced_rows}
        if failures:  # the scopes that answered are loaded; the run still fails, and says why
            others = f" (and {len(failures) - 1} more scopes)" if len(failures) > 1 else ""
            raise SourceError(failures[0] + others)
        details["requests"] = query.requests
        return CollectResult(rows=rows, watermark=until, details=details)

    def _batches(
        self, query: CostQuery, scope: str, starts: Sequence[dt.datetime]
    ) -> Iterator[pa.RecordBatch]:
        for start in starts:
            last_day = (next_month(start) - dt.timedelta(days=1)).date()
            answers = {}
            for cost_type in COST_TYPES:
                body = query_body(
                    cost_type, start=start.date(), end=last_day, team_tag=self.team_tag
                )
                what = f"azure cost query {scope} {start:%Y-%m} {cost_type}"
                answers[cost_type] = list(query.rows(scope, body, what=what))
            rows = focus_rows(
                answers["ActualCost"],
                answers["AmortizedCost"],
                scope=scope,
                period_start=start,
                team_tag=self.team_tag,
            )
            if rows:
                yield focus_batch(rows)
