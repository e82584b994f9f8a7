"""A local Azure Cost Management Query API on 127.0.0.1.

``POST /{scope}/providers/Microsoft.CostManagement/query?api-version=...`` answers in the
documented shape (``properties.columns`` + ``properties.rows``; ``UsageDate`` an int YYYYMMDD),
keeps only the rows inside the body's ``timePeriod``, and pages them: every page but the last
carries a ``nextLink`` with a ``$skiptoken``, which the client must POST the same body to.

Rows per (scope, cost type) are set by the test; :func:`documented_answer` loads the example
response from Azure/azure-rest-api-specs (``BillingAccountQuery.json``). It checks the bearer
token, records every request, and can be told to fail the next requests with a 429 that carries
only Cost Management's own retry-after headers, a 500/503, or a 401 for an expired token.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tests.stubs.server import RawNumber, Reply, Request, StubServer

FAULTS = ("429", "500", "503", "401")
QUERY_SUFFIX = "/providers/Microsoft.CostManagement/query"


@dataclasses.dataclass
class Answer:
    columns: list[dict[str, str]]
    rows: list[list[Any]]  # numbers kept as the exact JSON text via RawNumber


def documented_answer(shared_data: Path, name: str = "BillingAccountQuery.json") -> Answer:
    document = json.loads(
        (shared_data / "azure/cost-management-query-api" / name).read_text(),
        parse_float=RawNumber,
    )
    properties = document["responses"]["200"]["body"]["properties"]
    return Answer(columns=properties["columns"], rows=properties["rows"])


class AzureCostStub(StubServer):
    methods = ("POST",)
    content_type = "application/json"

    def __init__(self, *, token: str = "stub-azure-token", page_size: int = 2) -> None:
        self.token = token
        self.page_size = page_size
        self.retry_after = "1"
        self.answers: dict[tuple[str, str], Answer] = {}  # (scope lower, cost type) -> rows
        self._start(faults=FAULTS)

    def answer(self, scope: str, cost_type: str, answer: Answer) -> None:
        self.answers[(scope.strip("/").lower(), cost_type)] = answer

    def route(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, _error("InvalidAuthenticationToken", "The access token is invalid.")
        fault = self.next_fault()
        if fault == "401":
            return 401, {}, _error("ExpiredAuthenticationToken", "The token has expired.")
        if fault == "429":
            throttle = {
                f"x-ms-ratelimit-microsoft.costmanagement-{kind}-retry-after": value
                for kind, value in (("qpu", self.retry_after), ("entity", "0"), ("tenant", "0"))
            }
            return 429, throttle, _error("429", "Too many requests. Please retry.")
        if fault in ("500", "503"):
            return int(fault), {}, _error("ServerError", "Something went wrong.")
        if not request.path.endswith(QUERY_SUFFIX) or "api-version" not in request.query:
            return 404, {}, _error("NotFound", f"no route {request.path}")
        return self.respond(request.path, request.query, request.body)

    def respond(self, path: str, query: dict[str, list[str]], body: dict[str, Any]) -> Reply:
        scope = path.removesuffix(QUERY_SUFFIX).strip("/").lower()
        answer = self.answers.get((scope, body.get("type", "")))
        if answer is None:
            return 404, {}, {"error": {"code": "NotFound", "message": f"no scope {scope}"}}
        period = body.get("timePeriod") or {}
        low = int(period.get("from", "0000-00-00")[:10].replace("-", "") or 0)
        high = int(period.get("to", "9999-12-31")[:10].replace("-", "") or 99999999)
        names = [column["name"] for column in answer.columns]
        date_index = names.index("UsageDate")
        inside = [row for row in answer.rows if low <= int(row[date_index]) <= high]
        skip = int(query.get("$skiptoken", ["0"])[0])
        page = inside[skip : skip + self.page_size]
        properties: dict[str, Any] = {"columns": answer.columns, "rows": page, "nextLink": None}
        if skip + self.page_size < len(inside):
            properties["nextLink"] = (
                f"{self.url}/{scope}{QUERY_SUFFIX}?api-version={query['api-version'][0]}"
                f"&$skiptoken={skip + self.page_size}"
            )
        name = "ad67fd91-c131-4bda-9ba9-7187ecb1cebd"
        return (
            200,
            {},
            {
                "id": f"{scope}/providers/Microsoft.CostManagement/Query/{name}",
                "name": name,
                "type": "microsoft.costmanagement/Query",
                "properties": properties,
            },
        )


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
