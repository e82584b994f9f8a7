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
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.stubs.server import StubServer

FAULTS = ("429", "500", "503", "401")
QUERY_SUFFIX = "/providers/Microsoft.CostManagement/query"


@dataclasses.dataclass
class Answer:
    columns: list[dict[str, str]]
    rows: list[list[Any]]  # numbers kept as the exact JSON text via _RawNumber


class RawNumber(str):
    """A number written into the JSON as this exact text (Azure sends more digits than floats)."""


def documented_answer(shared_data: Path, name: str = "BillingAccountQuery.json") -> Answer:
    document = json.loads(
        (shared_data / "azure/cost-management-query-api" / name).read_text(),
        parse_float=RawNumber,
    )
    properties = document["responses"]["200"]["body"]["properties"]
    return Answer(columns=properties["columns"], rows=properties["rows"])


@dataclasses.dataclass
class Recorded:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]
    status: int


class AzureCostStub(StubServer):
    def __init__(self, *, token: str = "stub-azure-token", page_size: int = 2) -> None:
        self.token = token
        self.page_size = page_size
        self.retry_after = "1"
        self.answers: dict[tuple[str, str], Answer] = {}  # (scope lower, cost type) -> rows
        self.requests: list[Recorded] = []
        self._start(_handler(self), faults=FAULTS)

    def answer(self, scope: str, cost_type: str, answer: Answer) -> None:
        self.answers[(scope.strip("/").lower(), cost_type)] = answer

    def respond(self, path: str, query: dict[str, list[str]], body: dict[str, Any]) -> Any:
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


def _dumps(document: Any) -> bytes:
    """JSON with RawNumber cells written as bare numbers, exactly as the example has them."""
    marker = "\x00num:"

    def mark(value: Any) -> Any:
        if isinstance(value, RawNumber):
            return marker + str(value) + marker
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    text = json.dumps(mark(document))
    return text.replace('"\\u0000num:', "").replace('\\u0000num:"', "").encode()


def _handler(stub: AzureCostStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            query = parse_qs(parts.query)
            status, headers, document = self._route(parts.path, query, body)
            stub.requests.append(
                Recorded(parts.path, query, dict(self.headers.items()), body, status)
            )
            payload = _dumps(document)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _route(self, path: str, query: dict[str, list[str]], body: dict[str, Any]) -> Any:
            if self.headers.get("Authorization") != f"Bearer {stub.token}":
                return 401, {}, _error("InvalidAuthenticationToken", "The access token is invalid.")
            fault = stub.next_fault()
            if fault == "401":
                return 401, {}, _error("ExpiredAuthenticationToken", "The token has expired.")
            if fault == "429":
                throttle = {
                    f"x-ms-ratelimit-microsoft.costmanagement-{kind}-retry-after": value
                    for kind, value in (("qpu", stub.retry_after), ("entity", "0"), ("tenant", "0"))
                }
                return 429, throttle, _error("429", "Too many requests. Please retry.")
            if fault in ("500", "503"):
                return int(fault), {}, _error("ServerError", "Something went wrong.")
            if not path.endswith(QUERY_SUFFIX) or "api-version" not in query:
                return 404, {}, _error("NotFound", f"no route {path}")
            return stub.respond(path, query, body)

    return Handler


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
