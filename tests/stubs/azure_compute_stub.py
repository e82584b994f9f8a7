"""A local Azure Compute API on 127.0.0.1: ``Virtual Machines - List All``.

``GET /subscriptions/{id}/providers/Microsoft.Compute/virtualMachines?api-version=...`` answers
the documented ``VirtualMachineListResult`` (``value`` + ``nextLink``), ``page_size`` VMs a page;
``nextLink`` carries a ``$skiptoken``. With ``statusOnly=true`` each VM comes back with only
``id``/``name``/``location`` and ``properties.instanceView.statuses`` (provisioning and power
state), as the real API does. It checks the bearer token and records every request. Faults: 429
with Retry-After, 500/503, 401 for an expired token.
"""

from __future__ import annotations

import zlib
from typing import Any
from urllib.parse import urlencode

from tests.stubs.server import Reply, Request, StubServer

FAULTS = ("429", "500", "503", "401")
VMS_SUFFIX = "/providers/Microsoft.Compute/virtualMachines"


def vm(
    subscription: str,
    group: str,
    name: str,
    size: str,
    *,
    location: str = "eastus",
    priority: str | None = None,
    power: str = "running",
    tags: dict[str, str] | None = None,
    created: str = "2026-02-01T10:00:00.1234567+00:00",
) -> dict[str, Any]:
    """One VirtualMachine resource in the documented shape, plus its power state for the stub."""
    properties: dict[str, Any] = {
        "vmId": f"0f47b100-583c-48e3-a4c0-{zlib.crc32(name.encode()):012d}",
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {"osDisk": {"osType": "Linux", "name": f"{name}_OsDisk"}},
        "provisioningState": "Succeeded",
        "timeCreated": created,
    }
    if priority:
        properties["priority"] = priority
        if priority == "Spot":
            properties["evictionPolicy"] = "Deallocate"
            properties["billingProfile"] = {"maxPrice": -1}
    document = {
        "id": f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
        f"Microsoft.Compute/virtualMachines/{name}",
        "name": name,
        "type": "Microsoft.Compute/virtualMachines",
        "location": location,
        "tags": tags or {},
        "properties": properties,
    }
    return {"vm": document, "power": power}


# HAND-MADE in the documented VirtualMachine shape (no public List All answer with GPU VMs).
def gpu_fleet(subscription: str) -> list[dict[str, Any]]:
    return [
        vm(subscription, "ML-RG", "nc6-train", "Standard_NC6s_v3", priority="Regular",
           tags={"team": "nlp", "owner": "bob"}),
        vm(subscription, "ML-RG", "h100-spot", "Standard_ND96isr_H100_v5", priority="Spot",
           tags={"team": "research"}, created="2026-04-05T06:07:08.9Z"),
        vm(subscription, "ml-eu", "a100-eu", "Standard_NC24ads_A100_v4", location="westeurope",
           power="deallocated", tags={"owner": "dana"}),
        vm(subscription, "web", "web-1", "Standard_D4s_v5"),
        vm(subscription, "ML-RG", "a10-viz", "Standard_NV36ads_A10_v5", power="stopped"),
    ]  # fmt: skip


class AzureComputeStub(StubServer):
    content_type = "application/json; charset=utf-8"

    def __init__(self, *, token: str = "stub-azure-token", page_size: int = 2) -> None:
        self.token = token
        self.page_size = page_size
        self.retry_after = "1"
        self.fleets: dict[str, list[dict[str, Any]]] = {}  # subscription id (lower) -> vms
        self._start(faults=FAULTS)

    def route(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, _error("InvalidAuthenticationToken", "The access token is invalid.")
        fault = self.next_fault()
        if fault == "401":
            return 401, {}, _error("ExpiredAuthenticationToken", "The token has expired.")
        if fault == "429":
            return (
                429,
                {"Retry-After": self.retry_after},
                _error("TooManyRequests", "The request is being throttled."),
            )
        if fault in ("500", "503"):
            return int(fault), {}, _error("InternalServerError", "Something went wrong.")
        path, query = request.path, request.query
        parts = path.strip("/").split("/")
        if not path.endswith(VMS_SUFFIX) or len(parts) != 5 or "api-version" not in query:
            return 404, {}, _error("NotFound", f"no route {path}")
        if parts[1].lower() not in self.fleets:
            return 404, {}, _error("SubscriptionNotFound", f"{parts[1]} could not be found.")
        return 200, {}, self.list_all(path, query)

    def serve(self, subscription: str, fleet: list[dict[str, Any]]) -> None:
        self.fleets[subscription.lower()] = fleet

    def list_all(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        subscription = path.split("/")[2].lower()
        fleet = self.fleets[subscription]
        status_only = (query.get("statusOnly") or [""])[0] == "true"
        skip = int((query.get("$skiptoken") or ["0"])[0])
        page = fleet[skip : skip + self.page_size]
        value = [_status_only(entry) if status_only else entry["vm"] for entry in page]
        answer: dict[str, Any] = {"value": value}
        if skip + self.page_size < len(fleet):
            follow = {key: values[0] for key, values in query.items() if key != "$skiptoken"}
            follow["$skiptoken"] = str(skip + self.page_size)
            answer["nextLink"] = f"{self.url}{path}?{urlencode(follow)}"
        return answer


def _status_only(entry: dict[str, Any]) -> dict[str, Any]:
    document = entry["vm"]
    display = {"running": "VM running", "deallocated": "VM deallocated", "stopped": "VM stopped"}
    return {
        "id": document["id"],
        "name": document["name"],
        "type": document["type"],
        "location": document["location"],
        "properties": {
            "instanceView": {
                "statuses": [
                    {
                        "code": "ProvisioningState/succeeded",
                        "level": "Info",
                        "displayStatus": "Provisioning succeeded",
                        "time": "2026-02-01T10:01:00.0000000+00:00",
                    },
                    {
                        "code": f"PowerState/{entry['power']}",
                        "level": "Info",
                        "displayStatus": display.get(entry["power"], entry["power"]),
                    },
                ]
            }
        },
    }


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
