"""Azure VM inventory: every virtual machine with its GPUs, lifecycle, tags and owner.

Per subscription, two ``virtual_machines.list_all`` walks (each paged by ``nextLink``, which the
SDK's pager follows):

1. the plain list: size (``hardwareProfile.vmSize``), ``priority``, tags, ``timeCreated``;
2. ``statusOnly=true``: the same VMs with only their instance view, whose ``PowerState/...``
   status is the power state. This is one extra call per page instead of one
   ``instance_view`` call per VM; the two lists are joined on the (case-insensitive) VM id.

GPU shape: the size's row in the shipped (hand-made) Azure NC/ND table of the price snapshot.
A GPU size (NC/ND/NV/NG series) missing from that table keeps ``gpu_count`` NULL and is named
in the run details; other sizes have no GPU.

Lifecycle: ``priority`` Spot (or the legacy Low) -> spot; a capacity reservation group ->
reserved; else on_demand. Power states map onto the warehouse's state words, where "stopped"
means compute is no longer billed: Azure's *deallocated* becomes ``stopped``, while Azure's
*stopped* (OS shut down, still allocated and billed) becomes ``stopped_allocated``.

``resource_id`` is the ARM id in lower case, as Cost Management reports ``ResourceId``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from collectors.base import CollectResult
from collectors.cloud_clients import (
    AZURE_CREDENTIALS_REFUSED,
    call_options,
    compute_management_client,
)
from collectors.price_snapshot import read_snapshot
from warehouse.errors import InputError, SourceError
from warehouse.load_inventory import InstanceTypeRecord, ResourceRecord, load_inventory

if TYPE_CHECKING:
    from spendwatch.config import Settings

SOURCE = "azure_inventory"
GPU_SIZE = re.compile(r"^Standard_N[CDVG]", re.IGNORECASE)
STATES = {
    "running": "running",
    "starting": "pending",
    "stopping": "stopping",
    "stopped": "stopped_allocated",  # shut down from inside: still allocated, still billed
    "deallocating": "stopping",
    "deallocated": "stopped",
}


def subscription_ids(*, subscriptions: Sequence[str], scopes: Sequence[str]) -> list[str]:
    """``[azure] subscriptions``, else the subscription ids found in ``[azure] scopes``."""
    found = [s.strip().strip("/").removeprefix("subscriptions/") for s in subscriptions]
    if not found:
        for scope in scopes:
            parts = scope.strip("/").split("/")
            if len(parts) >= 2 and parts[0].lower() == "subscriptions":
                found.append(parts[1])
    return list(dict.fromkeys(value for value in found if value))


def power_state(vm: Mapping[str, Any]) -> str | None:
    view = (vm.get("properties") or {}).get("instanceView") or {}
    for status in view.get("statuses") or []:
        code = str(status.get("code") or "")
        if code.lower().startswith("powerstate/"):
            return code.split("/", 1)[1].lower()
    return None


def lifecycle_of(properties: Mapping[str, Any]) -> str:
    if str(properties.get("priority") or "").lower() in ("spot", "low"):
        return "spot"
    if (properties.get("capacityReservation") or {}).get("capacityReservationGroup"):
        return "reserved"
    return "on_demand"


def resource_from_vm(
    vm: Mapping[str, Any],
    *,
    subscription: str,
    power: str | None,
    owner_tag: str,
    team_tag: str,
) -> ResourceRecord:
    properties = vm.get("properties") or {}
    size = str((properties.get("hardwareProfile") or {}).get("vmSize") or "") or None
    shape = azure_shapes().get((size or "").lower())
    if shape is not None:
        count, model, memory = shape.gpu_count, shape.gpu_model, shape.gpu_memory_bytes
    elif size and GPU_SIZE.match(size):
        count, model, memory = None, None, None  # a GPU size the shipped table lacks
    else:
        count, model, memory = 0, None, None
    tags = {str(key): str(value) for key, value in (vm.get("tags") or {}).items()}
    created = properties.get("timeCreated")
    return ResourceRecord(
        provider="azure",
        resource_id=str(vm["id"]).lower(),
        account_id=subscription,
        region=vm.get("location"),
        name=vm.get("name"),
        instance_type=shape.instance_type if shape is not None else size,
        gpu_count=count,
        gpu_model=model,
        gpu_memory_bytes=memory,
        lifecycle=lifecycle_of(properties),
        tags=tags,
        owner=tags.get(owner_tag),
        team=tags.get(team_tag),
        launched_at=_timestamp(created) if created else None,
        state=STATES.get(power, power) if power else None,
    )


def fetch_subscription(
    client: Any,
    subscription: str,
    *,
    endpoint: str,
    owner_tag: str = "owner",
    team_tag: str = "team",
) -> list[ResourceRecord]:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
    )

    what = f"{SOURCE} ({subscription})"
    options = call_options(endpoint)
    try:
        vms = [vm.as_dict() for vm in client.virtual_machines.list_all(**options)]
        statuses = client.virtual_machines.list_all(status_only="true", **options)
        powers = {str(vm.as_dict()["id"]).lower(): power_state(vm.as_dict()) for vm in statuses}
    except ClientAuthenticationError:
        raise SourceError(f"{what}: {AZURE_CREDENTIALS_REFUSED}") from None
    except HttpResponseError as exc:
        status = exc.status_code
        if status == 403:
            todo = "grant the identity Reader on the subscription"
        elif status == 404:
            todo = "check the subscription id in [azure] subscriptions"
        else:
            todo = "run again later"
        raise SourceError(
            f"{what}: Azure Resource Manager answered HTTP {status}; {todo}"
        ) from None
    except ServiceRequestError as exc:
        raise SourceError(
            f"{what}: Azure Resource Manager could not be reached ({type(exc).__name__}); check "
            "[azure] management_endpoint and the network"
        ) from None
    return [
        resource_from_vm(
            vm,
            subscription=subscription,
            power=powers.get(str(vm["id"]).lower()),
            owner_tag=owner_tag,
            team_tag=team_tag,
        )
        for vm in vms
    ]


class AzureInventoryCollector:
    """``spendwatch collect azure_inventory``: the VMs as they are now (the window is not used).

    ``clients`` maps each subscription id to its ``ComputeManagementClient``."""

    name = SOURCE
    loads = "resources"
    natural_key: tuple[str, ...] = ("provider", "resource_id")
    lookback = dt.timedelta(0)
    initial_window = dt.timedelta(hours=1)

    def __init__(
        self,
        clients: Mapping[str, Any],
        *,
        endpoint: str,
        owner_tag: str = "owner",
        team_tag: str = "team",
    ) -> None:
        self.clients = dict(clients)
        self.endpoint = endpoint
        self.owner_tag = owner_tag
        self.team_tag = team_tag

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureInventoryCollector:
        ids = subscription_ids(
            subscriptions=settings.azure.subscriptions, scopes=settings.azure.scopes
        )
        if not ids:
            raise InputError(
                "azure_inventory: no subscription to list; set [azure] subscriptions = "
                '["<subscription id>"] (or SPENDWATCH_AZURE__SUBSCRIPTIONS as JSON)'
            )
        from collectors.cloud_clients import azure_credential

        credential = azure_credential()  # one credential (and token cache) for all
        return cls(
            {sub: compute_management_client(settings, sub, credential=credential) for sub in ids},
            endpoint=settings.azure.management_endpoint,
            owner_tag=settings.tags.owner,
            team_tag=settings.tags.team,
        )

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        # Every subscription is read before anything is written: all or nothing.
        records = [
            record
            for subscription, client in self.clients.items()
            for record in fetch_subscription(
                client,
                subscription,
                endpoint=self.endpoint,
                owner_tag=self.owner_tag,
                team_tag=self.team_tag,
            )
        ]
        counts = load_inventory(engine, resource_records=records, updated_at=until)
        details: dict[str, Any] = {
            "subscriptions": list(self.clients),
            "vms": len(records),
            "gpu_vms": sum(1 for record in records if record.gpu_model),
            "without_power_state": sum(1 for record in records if record.state is None),
        }
        unknown = _unknown_gpu_sizes(records)
        if unknown:
            details["unknown_gpu_sizes"] = unknown
        return CollectResult(rows=counts.resources, watermark=until, details=details)


@lru_cache(maxsize=1)
def azure_shapes() -> dict[str, InstanceTypeRecord]:
    """The shipped Azure GPU sizes, by lower-case size name (ARM is case-insensitive)."""
    return {
        shape.instance_type.lower(): shape
        for shape in read_snapshot().shapes
        if shape.provider == "azure"
    }


def _unknown_gpu_sizes(records: Iterable[ResourceRecord]) -> list[str]:
    return sorted({r.instance_type or "" for r in records if r.gpu_count is None})


def _timestamp(text: str) -> dt.datetime:
    """ARM times carry 7 fractional digits (``...05.1234567+00:00``); Python takes 6."""
    text = text.replace("Z", "+00:00")
    match = re.match(r"^(.*\.\d{6})\d*(.*)$", text)
    if match:
        text = match.group(1) + match.group(2)
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)
