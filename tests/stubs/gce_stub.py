"""A local Compute Engine REST API (v1) on 127.0.0.1: ``instances.aggregatedList``.

``GET /compute/v1/projects/{project}/aggregated/instances`` answers the documented
``compute#instanceAggregatedList`` shape: ``items`` keyed by ``zones/{zone}``, each holding
``instances`` (or a ``NO_RESULTS_ON_PAGE`` warning), ``unreachables`` for zones it could not
list, and ``nextPageToken`` while instances remain (``maxResults`` per page). Every request is
recorded. Faults: 429 with Retry-After, 500/503, and 401 for a bearer token other than the
expected one (when the stub was given one).
"""

from __future__ import annotations

from typing import Any

from tests.stubs.server import Reply, Request, StubServer

FAULTS = ("429", "500", "503", "401")
API = "https://www.googleapis.com/compute/v1"
ZONES = ("us-central1-a", "us-east1-b", "europe-west4-a")


def instance(
    project: str,
    zone: str,
    name: str,
    instance_id: str,
    machine_type: str,
    *,
    status: str = "RUNNING",
    accelerators: tuple[str, int] | None = None,
    scheduling: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    created: str = "2026-03-02T01:02:03.456-08:00",
    reservation: str | None = None,
) -> dict[str, Any]:
    """One Instance resource with the documented field names (URLs as the API writes them)."""
    zone_url = f"{API}/projects/{project}/zones/{zone}"
    document: dict[str, Any] = {
        "kind": "compute#instance",
        "id": instance_id,
        "creationTimestamp": created,
        "name": name,
        "machineType": f"{zone_url}/machineTypes/{machine_type}",
        "status": status,
        "zone": zone_url,
        "selfLink": f"{zone_url}/instances/{name}",
        "scheduling": scheduling
        or {"onHostMaintenance": "TERMINATE", "automaticRestart": True, "preemptible": False},
        "labels": labels or {},
    }
    if accelerators:
        kind, count = accelerators
        document["guestAccelerators"] = [
            {"acceleratorType": f"{zone_url}/acceleratorTypes/{kind}", "acceleratorCount": count}
        ]
    if reservation:
        document["reservationAffinity"] = {
            "consumeReservationType": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": [reservation],
        }
    return document


# HAND-MADE in the documented Instance shape (no public aggregatedList answer with GPUs exists).
def gpu_fleet(project: str = "ml-train") -> list[dict[str, Any]]:
    return [
        instance(project, "us-central1-a", "trainer-a100", "4711", "a2-highgpu-1g",
                 accelerators=("nvidia-tesla-a100", 1), labels={"team": "nlp", "owner": "alice"}),
        instance(project, "us-east1-b", "infer-t4", "4712", "n1-standard-8",
                 accelerators=("nvidia-tesla-t4", 2), labels={"team": "vision"},
                 scheduling={"provisioningModel": "SPOT", "preemptible": True,
                             "instanceTerminationAction": "STOP"},
                 created="2026-05-10T09:00:00.000-07:00"),
        instance(project, "europe-west4-a", "l4-batch", "4713", "g2-standard-4",
                 status="TERMINATED", scheduling={"preemptible": True},
                 labels={"owner": "carol"}),
        instance(project, "us-central1-a", "web-1", "4714", "e2-medium"),
        instance(project, "us-central1-a", "h100-pod", "4715", "a3-highgpu-8g",
                 accelerators=("nvidia-h100-80gb", 8), reservation="h100-reserved",
                 labels={"team": "research"}),
    ]  # fmt: skip


class GceStub(StubServer):
    content_type = "application/json; charset=UTF-8"

    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self.retry_after = "1"
        self.instances: dict[str, list[dict[str, Any]]] = {}  # project -> instances
        self.unreachables: list[str] = []
        self._start(faults=FAULTS)

    def route(self, request: Request) -> Reply:
        fault = self.next_fault()
        auth = request.headers.get("authorization")
        if fault == "401" or (self.token is not None and auth != f"Bearer {self.token}"):
            return 401, {}, _error(401, "Request had invalid authentication credentials.")
        if fault == "429":
            return 429, {"Retry-After": self.retry_after}, _error(429, "Rate Limit Exceeded")
        if fault in ("500", "503"):
            return int(fault), {}, _error(int(fault), "Backend Error")
        parts = request.path.strip("/").split("/")
        # compute/v1/projects/{project}/aggregated/instances
        if len(parts) == 6 and parts[:3] == ["compute", "v1", "projects"]:
            if parts[4:] == ["aggregated", "instances"] and parts[3] in self.instances:
                return 200, {}, self.aggregated(parts[3], request.query)
            return 404, {}, _error(404, f"The resource 'projects/{parts[3]}' was not found")
        return 404, {}, _error(404, f"no route {request.path}")

    def aggregated(self, project: str, query: dict[str, list[str]]) -> dict[str, Any]:
        everything = self.instances.get(project, [])
        size = int((query.get("maxResults") or ["500"])[0])
        start = int((query.get("pageToken") or ["0"])[0] or 0)
        page = everything[start : start + size]
        items: dict[str, Any] = {}
        for zone in ZONES:
            found = [i for i in page if i["zone"].endswith(f"/zones/{zone}")]
            items[f"zones/{zone}"] = (
                {"instances": found}
                if found
                else {
                    "warning": {
                        "code": "NO_RESULTS_ON_PAGE",
                        "message": f"There are no results for scope 'zones/{zone}' on this page.",
                        "data": [{"key": "scope", "value": f"zones/{zone}"}],
                    }
                }
            )
        answer: dict[str, Any] = {
            "kind": "compute#instanceAggregatedList",
            "id": f"projects/{project}/aggregated/instances",
            "items": items,
            "selfLink": f"{API}/projects/{project}/aggregated/instances",
        }
        if start + size < len(everything):
            answer["nextPageToken"] = str(start + size)
        if self.unreachables:
            answer["unreachables"] = self.unreachables
        return answer


def _error(code: int, message: str) -> dict[str, Any]:
    reason = {401: "authError", 404: "notFound", 429: "rateLimitExceeded"}.get(code, "backendError")
    return {"error": {"code": code, "message": message, "errors": [{"message": message,
                                                                  "reason": reason}]}}  # fmt: skip
