"""A local BigQuery REST API on 127.0.0.1, for the billing-export collector.

It answers ``jobs.query`` (``POST /bigquery/v2/projects/{p}/queries``), ``jobs.getQueryResults``
(``GET .../queries/{jobId}``, paged by ``pageToken``) and ``jobs.get`` in the documented JSON
shapes (``schema.fields``, ``rows[].f[].v`` with every value a string, ``pageToken``,
``jobComplete``). It cannot run SQL: it records the query text and parameters, and computes
the collector's daily aggregation over :data:`EXPORT_ROWS` itself, honouring the
``invoice_months`` and ``partition_from`` parameters, so tests check both the SQL that was sent
and how the answer pages are parsed. Faults: 429 (rateLimitExceeded + Retry-After), 500/503
(backendError), 401 (a bearer token other than the expected one).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from tests.stubs.server import Recorded, Reply, Request, StubServer

FAULTS = ("429", "500", "503", "401")
ACCOUNT = "01A2B3-C4D5E6-F7G8H9"
GPU_VM = "//compute.googleapis.com/projects/ml-train/zones/us-central1-a/instances/4711"
A100 = "Nvidia Tesla A100 GPU running in Americas"


def _export_row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "billing_account_id": ACCOUNT,
        "invoice": {"month": "202403"},
        "project": {"id": "ml-train", "name": "ML Training"},
        "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
        "sku": {"id": "039F-D0DA-4055", "description": A100},
        "location": {"region": "us-central1"},
        "resource": {"name": "gpu-vm-1", "global_name": GPU_VM},
        "labels": [{"key": "team", "value": "nlp"}],
        "cost_type": "regular",
        "currency": "USD",
        "usage": {"amount": "3600", "unit": "seconds"},
        "credits": [],
        "_PARTITIONTIME": "2024-03-11",
    }
    row.update(fields)
    return row


# HAND-MADE: no public GCP billing export with GPU rows exists. These rows follow Google's
# documented standard/detailed usage cost export schema (billing_account_id, invoice.month,
# project, service, sku, usage_start_time, location, resource, labels, cost, currency,
# usage, credits[], cost_type); amounts are made up but the A100 price matches pricing.yml.
EXPORT_ROWS: list[dict[str, Any]] = [
    _export_row(
        usage_start_time="2024-03-10T00:00:00Z",
        cost="2.933908",
        credits=[{"name": "Sustained use discount", "amount": "-0.5", "type": "SUSTAINED"}],
    ),
    _export_row(usage_start_time="2024-03-10T01:00:00Z", cost="2.933908"),
    _export_row(
        usage_start_time="2024-03-11T05:00:00Z",
        cost="1.2",
        sku={"id": "9A4E-2A36-7C0B", "description": "Spot Preemptible " + A100},
        resource={"name": "gpu-spot-1", "global_name": GPU_VM + "2"},
    ),
    _export_row(
        usage_start_time="2024-03-10T00:00:00Z",
        cost="0.5",
        project={"id": "data-lake", "name": "Data Lake"},
        service={"id": "95FF-2EF5-5EA1", "description": "Cloud Storage"},
        sku={"id": "E5F0-6A5D-7BAD", "description": "Standard Storage US Multi-region"},
        location={"region": "us"},
        resource={
            "name": "datasets",
            "global_name": "//storage.googleapis.com/projects/_/buckets/datasets",
        },
        labels=[],
        usage={"amount": "21474836480", "unit": "byte-seconds"},
    ),
    _export_row(
        usage_start_time="2024-03-31T00:00:00Z",
        cost="0.65",
        cost_type="tax",
        sku={"id": "TAX", "description": "Tax"},
        resource={"name": None, "global_name": None},
        labels=[],
        usage={"amount": "0", "unit": None},
    ),
    _export_row(
        usage_start_time="2024-02-28T12:00:00Z",
        cost="10.00",
        invoice={"month": "202402"},
        _PARTITIONTIME="2024-02-29",
    ),
]

_STRING_KEYS = (
    "billing_account_id", "invoice_month", "project_id", "project_name", "service", "sku_id",
    "sku", "region", "resource_id", "cost_type", "currency", "usage_unit", "team",
)  # fmt: skip


class BigQueryStub(StubServer):
    methods = ("GET", "POST")
    content_type = "application/json; charset=UTF-8"

    def __init__(self, *, page_size: int = 2, token: str | None = None) -> None:
        self.page_size = page_size
        self.token = token  # when set, a request without this bearer token gets a 401
        self.rows = EXPORT_ROWS
        self.results: dict[str, list[list[str | None]]] = {}
        self.schemas: dict[str, list[dict[str, str]]] = {}
        self._start(faults=FAULTS)

    def route(self, request: Request) -> Reply:
        fault = self.next_fault()
        auth = request.headers.get("authorization")
        if fault == "401" or (self.token is not None and auth != f"Bearer {self.token}"):
            message = "Request had invalid authentication credentials."
            return 401, {}, _error(401, "authError", message)
        if fault == "429":
            message = "Exceeded rate limits: too many api requests per user per method"
            return 429, {"Retry-After": "1"}, _error(429, "rateLimitExceeded", message)
        if fault in ("500", "503"):
            return int(fault), {}, _error(int(fault), "backendError", "Backend error.")
        method, path, query = request.method, request.path, request.query
        parts = path.removeprefix("/bigquery/v2/projects/").split("/")
        project = parts[0]
        if method == "POST" and parts[1:] == ["queries"]:
            return 200, {}, self.run(project, request.body)
        if method == "GET" and len(parts) == 3 and parts[1] == "queries":
            token = query["pageToken"][0] if query.get("pageToken") else None
            if query.get("maxResults") == ["0"]:  # a "is it done?" poll: no rows
                answer = self.page(project, parts[2], token=None)
                answer["rows"] = []
                answer.pop("pageToken", None)
                return 200, {}, answer
            return 200, {}, self.page(project, parts[2], token=token)
        if method == "GET" and len(parts) == 3 and parts[1] == "jobs":
            return 200, {}, self.job(project, parts[2])
        return 404, {}, _error(404, "notFound", f"Not found: {method} {path}")

    def queries(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.status == 200]

    # --- the aggregation the collector's SQL asks for ---------------------------------------
    def run(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        params = {p["name"]: p for p in body.get("queryParameters", [])}
        months = {v["value"] for v in params["invoice_months"]["parameterValue"]["arrayValues"]}
        partition_from = params["partition_from"]["parameterValue"]["value"][:10]
        team = params["team_label"]["parameterValue"]["value"]
        detailed = "resource.global_name" in body["query"]
        sums: dict[tuple[Any, ...], list[Decimal]] = {}
        for row in self.rows:
            if row["invoice"]["month"] not in months or row["_PARTITIONTIME"] < partition_from:
                continue
            labels = {label["key"]: label["value"] for label in row["labels"]}
            key = (
                row["billing_account_id"], row["invoice"]["month"], row["project"]["id"],
                row["project"]["name"], row["service"]["description"], row["sku"]["id"],
                row["sku"]["description"], row["location"]["region"],
                row["resource"]["global_name"] if detailed else None, row["cost_type"],
                row["currency"], row["usage"]["unit"], labels.get(team),
                row["usage_start_time"][:10],
            )  # fmt: skip
            total = sums.setdefault(key, [Decimal(0), Decimal(0), Decimal(0)])
            total[0] += Decimal(row["cost"])
            total[1] += sum((Decimal(c["amount"]) for c in row["credits"]), Decimal(0))
            total[2] += Decimal(row["usage"]["amount"])
        fields = [{"name": "usage_date", "type": "DATE", "mode": "NULLABLE"}]
        fields += [{"name": n, "type": "STRING", "mode": "NULLABLE"} for n in _STRING_KEYS]
        fields += [
            {"name": n, "type": "NUMERIC", "mode": "NULLABLE"}
            for n in ("cost", "credits", "usage_amount")
        ]
        rows = [
            [key[-1], *key[:-1], *(format(v, "f") for v in total)]
            for key, total in sorted(sums.items(), key=lambda item: str(item[0]))
        ]
        job_id = f"job_{len(self.results) + 1}"
        self.results[job_id] = rows
        self.schemas[job_id] = fields
        return self.page(project, job_id, token=None)

    def page(self, project: str, job_id: str, *, token: str | None) -> dict[str, Any]:
        rows = self.results[job_id]
        start = int(token or 0)
        chunk = rows[start : start + self.page_size]
        answer: dict[str, Any] = {
            "kind": "bigquery#queryResponse",
            "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
            "schema": {"fields": self.schemas[job_id]},
            "totalRows": str(len(rows)),
            "rows": [{"f": [{"v": value} for value in row]} for row in chunk],
            "jobComplete": True,
            "cacheHit": False,
        }
        if start + self.page_size < len(rows):
            answer["pageToken"] = str(start + self.page_size)
        return answer

    def job(self, project: str, job_id: str) -> dict[str, Any]:
        now = str(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        return {
            "kind": "bigquery#job",
            "id": f"{project}:US.{job_id}",
            "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
            "configuration": {"query": {"query": "", "useLegacySql": False}, "jobType": "QUERY"},
            "status": {"state": "DONE"},
            "statistics": {"creationTime": now, "startTime": now, "endTime": now},
        }


def _error(status: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": {401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED"}.get(status, "INTERNAL"),
        }
    }
