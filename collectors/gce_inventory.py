"""Compute Engine inventory: every instance with its GPUs, lifecycle, labels and owner.

One ``instances.aggregatedList`` walk per project (REST, ``GET
/compute/v1/projects/{project}/aggregated/instances``, paged by ``nextPageToken``,
``returnPartialSuccess`` so one unreachable zone does not hide the others) lists instances in
every zone. The GPUs of an instance come from:

* ``guestAccelerators`` (``acceleratorType`` URL + ``acceleratorCount``): N1 VMs with attached
  GPUs, and the accelerator-optimized types, which list their built-in GPUs there too;
* else the machine type's shape in the price snapshot (A2/A3/G2/G4 have built-in GPUs).

Lifecycle: ``scheduling.provisioningModel == "SPOT"`` or ``scheduling.preemptible`` -> spot;
consuming a specific reservation -> reserved; else on_demand. ``status`` is mapped onto the
warehouse's state words: GCE's TERMINATED means *stopped* (the VM still exists, its GPUs are not
billed), so it becomes ``stopped``, not ``terminated``.

``resource_id`` is the instance's global name, ``//compute.googleapis.com/projects/P/zones/Z/
instances/ID``, which is what the detailed BigQuery billing export calls ``resource.global_name``,
so billing and inventory join.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from collectors.base import CollectResult
from collectors.cloud_clients import ApiError, RestJsonClient, gce_rest_client
from collectors.price_snapshot import read_snapshot
from warehouse.errors import SourceError
from warehouse.load_inventory import MIB, InstanceTypeRecord, ResourceRecord, load_inventory

if TYPE_CHECKING:
    from spendwatch.config import Settings

SOURCE = "gce_inventory"
PAGE_SIZE = 500  # the API's maximum maxResults

# HAND-MADE from Google's published GPU table: acceleratorType name -> (model, MiB per GPU).
# Memory per GPU follows what the price snapshot (and the AWS API) says for the same card, so a
# model has one memory figure across clouds.
ACCELERATORS: dict[str, tuple[str, int]] = {
    "nvidia-tesla-k80": ("K80", 12288),
    "nvidia-tesla-p4": ("P4", 8192),
    "nvidia-tesla-p4-vws": ("P4", 8192),
    "nvidia-tesla-p100": ("P100", 16384),
    "nvidia-tesla-p100-vws": ("P100", 16384),
    "nvidia-tesla-v100": ("V100", 16384),
    "nvidia-tesla-t4": ("T4", 16384),
    "nvidia-tesla-t4-vws": ("T4", 16384),
    "nvidia-tesla-a100": ("A100", 40960),
    "nvidia-a100-80gb": ("A100", 81920),
    "nvidia-l4": ("L4", 22888),
    "nvidia-l4-vws": ("L4", 22888),
    "nvidia-h100-80gb": ("H100", 81920),
    "nvidia-h100-mega-80gb": ("H100", 81920),
    "nvidia-h200-141gb": ("H200", 144384),
    "nvidia-rtx-pro-6000": ("RTX PRO 6000", 98304),
}
STATES = {
    "PROVISIONING": "pending",
    "STAGING": "pending",
    "RUNNING": "running",
    "REPAIRING": "running",
    "STOPPING": "stopping",
    "SUSPENDING": "stopping",
    "STOPPED": "stopped",
    "SUSPENDED": "stopped",
    "TERMINATED": "stopped",  # GCE's word for a stopped VM; a deleted one is simply absent
}


def last_segment(url: str | None) -> str | None:
    """``.../zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4`` -> ``nvidia-tesla-t4``."""
    return url.rstrip("/").rsplit("/", 1)[-1] if url else None


def region_of(zone: str) -> str:
    """``us-central1-a`` -> ``us-central1``."""
    return zone.rsplit("-", 1)[0]


def lifecycle_of(instance: Mapping[str, Any]) -> str:
    scheduling = instance.get("scheduling") or {}
    if scheduling.get("provisioningModel") == "SPOT" or scheduling.get("preemptible"):
        return "spot"
    affinity = instance.get("reservationAffinity") or {}
    if affinity.get("consumeReservationType") == "SPECIFIC_RESERVATION":
        return "reserved"
    return "on_demand"


def gpus_of(instance: Mapping[str, Any]) -> tuple[int | None, str | None, int | None]:
    """(GPU count, model, bytes per GPU); (0, None, None) for a VM without GPUs; count None when
    an accelerator type is not in :data:`ACCELERATORS` (its name is then kept as the model)."""
    attached = instance.get("guestAccelerators") or []
    if attached:
        count = sum(int(item.get("acceleratorCount") or 0) for item in attached)
        name = last_segment(attached[0].get("acceleratorType")) or ""
        known = ACCELERATORS.get(name)
        if known is None:
            return None, name or None, None
        return count, known[0], known[1] * MIB
    shape = _snapshot_shapes().get(last_segment(instance.get("machineType")) or "")
    if shape is not None and shape.gpu_model:
        return shape.gpu_count, shape.gpu_model, shape.gpu_memory_bytes
    return 0, None, None


def resource_from_instance(
    instance: Mapping[str, Any], *, project: str, owner_tag: str, team_tag: str
) -> ResourceRecord:
    zone = last_segment(instance.get("zone")) or ""
    labels = {str(key): str(value) for key, value in (instance.get("labels") or {}).items()}
    count, model, memory = gpus_of(instance)
    created = instance.get("creationTimestamp")
    return ResourceRecord(
        provider="gcp",
        resource_id=(
            f"//compute.googleapis.com/projects/{project}/zones/{zone}/instances/{instance['id']}"
        ),
        account_id=project,
        region=region_of(zone) if zone else None,
        name=instance.get("name"),
        instance_type=last_segment(instance.get("machineType")),
        gpu_count=count,
        gpu_model=model,
        gpu_memory_bytes=memory,
        lifecycle=lifecycle_of(instance),
        tags=labels,
        owner=labels.get(owner_tag),
        team=labels.get(team_tag),
        # RFC 3339 with an offset, e.g. 2026-03-02T01:02:03.456-08:00
        launched_at=dt.datetime.fromisoformat(created).astimezone(dt.UTC) if created else None,
        state=STATES.get(str(instance.get("status")), str(instance.get("status") or "").lower())
        or None,
    )


def aggregated_instances(
    client: RestJsonClient, project: str, *, page_size: int = PAGE_SIZE
) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
    """Each page's instances (all zones), with the zones the page says it could not reach."""
    path = f"/compute/v1/projects/{project}/aggregated/instances"
    token = ""
    while True:
        params = {"maxResults": str(page_size), "returnPartialSuccess": "true"}
        if token:
            params["pageToken"] = token
        page = client.get_json(path, params)
        instances = [
            instance
            for scoped in (page.get("items") or {}).values()
            for instance in scoped.get("instances") or []
        ]
        yield instances, [str(u) for u in page.get("unreachables") or []]
        token = page.get("nextPageToken") or ""
        if not token:
            return


def fetch_inventory(
    client: RestJsonClient,
    projects: Sequence[str],
    *,
    owner_tag: str = "owner",
    team_tag: str = "team",
    page_size: int = PAGE_SIZE,
) -> tuple[list[ResourceRecord], list[str]]:
    """Every instance in ``projects``, and the zones that could not be listed."""
    records: list[ResourceRecord] = []
    unreachable: list[str] = []
    for project in projects:
        try:
            for instances, missing in aggregated_instances(client, project, page_size=page_size):
                unreachable.extend(missing)
                records.extend(
                    resource_from_instance(
                        instance, project=project, owner_tag=owner_tag, team_tag=team_tag
                    )
                    for instance in instances
                )
        except ApiError as exc:
            raise SourceError(_reason(exc, project=project, endpoint=client.base_url)) from None
    return records, unreachable


class GceInventoryCollector:
    """``spendwatch collect gce_inventory``: the fleet as it is now (the window is not used)."""

    name = SOURCE
    loads = "resources"
    natural_key: tuple[str, ...] = ("provider", "resource_id")
    lookback = dt.timedelta(0)
    initial_window = dt.timedelta(hours=1)

    def __init__(
        self,
        client: RestJsonClient,
        *,
        projects: Sequence[str],
        owner_tag: str = "owner",
        team_tag: str = "team",
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.client = client
        self.projects = list(projects)
        self.owner_tag = owner_tag
        self.team_tag = team_tag
        self.page_size = page_size

    @classmethod
    def from_settings(cls, settings: Settings) -> GceInventoryCollector:
        from warehouse.errors import InputError

        projects = settings.gcp.projects or ([settings.gcp.project] if settings.gcp.project else [])
        if not projects:
            raise InputError(
                'gce_inventory: no project to list; set [gcp] projects = ["my-project"] '
                "(or SPENDWATCH_GCP__PROJECTS as JSON)"
            )
        return cls(
            gce_rest_client(settings),
            projects=projects,
            owner_tag=settings.tags.owner,
            team_tag=settings.tags.team,
        )

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        records, unreachable = fetch_inventory(
            self.client,
            self.projects,
            owner_tag=self.owner_tag,
            team_tag=self.team_tag,
            page_size=self.page_size,
        )
        counts = load_inventory(engine, resource_records=records, updated_at=until)
        details: dict[str, Any] = {
            "projects": self.projects,
            "instances": len(records),
            "gpu_instances": sum(1 for record in records if record.gpu_model),
            "requests": self.client.requests,
        }
        unknown = sorted({r.gpu_model or "" for r in records if r.gpu_count is None})
        if unknown:
            details["unknown_accelerators"] = unknown
        if unreachable:
            details["unreachable_zones"] = sorted(set(unreachable))
        return CollectResult(rows=counts.resources, watermark=until, details=details)


@lru_cache(maxsize=1)
def _snapshot_shapes() -> dict[str, InstanceTypeRecord]:
    return {s.instance_type: s for s in read_snapshot().shapes if s.provider == "gcp"}


def _reason(exc: ApiError, *, project: str, endpoint: str) -> str:
    what = f"{SOURCE} ({project})"
    if exc.status in (401, 403):
        todo = (
            "renew the credentials (gcloud auth application-default login) and grant "
            "roles/compute.viewer (compute.instances.list) on the project"
        )
        return f"{what}: Google refused the request (HTTP {exc.status}: {exc.detail}); {todo}"
    if exc.status is None:
        return f"{what}: {endpoint} {exc.detail}; check [gcp] compute_endpoint and the network"
    if exc.status == 404:
        return f"{what}: HTTP 404 ({exc.detail}); check the project id in [gcp] projects"
    return f"{what}: Compute Engine answered HTTP {exc.status}: {exc.detail}; run again later"
