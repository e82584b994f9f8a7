"""A believable, deterministic GPU fleet for the demo: the hosts, the behaviour each one acts
out, and their inventory records. What they produce per hour lives in
:mod:`spendwatch.demo_telemetry` (GPU readings) and :mod:`spendwatch.demo_billing` (the bill).

Behaviours the analytics must tell apart:
- ``busy``: every GPU works most hours;
- ``idle``: worked for a while, then nothing for the last days of the window;
- ``nightly``: a batch job busy 01:00-05:00 UTC only (idle by day, but not idle);
- ``underused``: 2 of the 8 GPUs work, the other 6 are paid for and idle;
- ``stopped``: went idle, then was terminated mid-window: its idle finding resolves and, with
  no bill after it, shows a realized saving a week later;
- ``reclaimed``: idle for nine days, then put back to work: its idle finding resolves, but the
  bill did not change, so its realized saving is zero;
- ``phantom``: an L40S that reports 100 % utilization with 0 bytes of memory used (the sensor
  artefact it shows while idle): idle, whatever the utilization says;
- ``mig``: an A100 in MIG mode: nvidia-smi prints ``[N/A]`` for utilization, so only memory
  is seen and no rule can call it idle or busy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Literal

from spendwatch.demo_shapes import DEMO_SHAPES, GIB, SHAPES, Shape
from warehouse.load_inventory import ResourceRecord

Pattern = Literal["busy", "idle", "nightly", "underused", "stopped", "reclaimed", "phantom", "mig"]
# The first hosts of every fleet, in this order, so a small fleet still shows each behaviour.
FIXED_PATTERNS: tuple[Pattern, ...] = (
    "idle", "nightly", "underused", "busy", "stopped", "reclaimed", "phantom", "mig",
)  # fmt: skip

# The ``workload`` tag each pattern's owners would set (the spot rule reads it).
WORKLOAD_TAGS = {"nightly": "batch"}
# Hosts whose behaviour is built around one shape.
_FIXED_SHAPES = {
    "nightly": "a2-highgpu-1g",  # a batch job on a type with a public spot price
    "underused": "a3-highgpu-8g",  # 2 of 8 H100s: the 2-GPU type is the cheaper fit
    "stopped": "p4d.24xlarge",
    "reclaimed": "a2-highgpu-1g",
    "phantom": "g6e.xlarge",
    "mig": "Standard_NC24ads_A100_v4",
}
# Hours before as_of (the demo's 14-day history runs at 12:00 UTC each day, as_of is midnight):
# ``stopped`` idles from 22 days out and is terminated 9.5 days out, so its finding resolves
# at the next day's run and the week after that resolution is over and billed before as_of;
# ``reclaimed`` idles from 20 to 11 days out.
STOPPED_IDLE_SINCE_HOURS = 22 * 24
STOPPED_TERMINATED_HOURS = 9 * 24 + 12
RECLAIMED_IDLE_SINCE_HOURS = 20 * 24
RECLAIMED_RESUMED_HOURS = 11 * 24

# FOCUS ProviderName, ServiceName and billing account per provider code.
FOCUS_PROVIDER = {
    "aws": ("AWS", "Amazon Elastic Compute Cloud", "Amazon Web Services, Inc.", "210987654321"),
    "gcp": ("Google Cloud", "Compute Engine", "Google Cloud", "01A2B3-C4D5E6-F7A8B9"),
    "azure": ("Microsoft", "Virtual Machines", "Microsoft", "8611537"),
}
# Short host-name parts, so the heatmap's host labels stay readable.
SLUGS = {
    "p4d.24xlarge": "p4d",
    "p5.48xlarge": "p5",
    "g5.xlarge": "g5",
    "g5.12xlarge": "g5x12",
    "g6.xlarge": "g6",
    "a2-highgpu-1g": "a2",
    "g2-standard-4": "g2",
    "a3-highgpu-8g": "a3",
    "Standard_NC24ads_A100_v4": "nc-a100",
    "Standard_NC4as_T4_v3": "nc-t4",
    "g6e.xlarge": "g6e",
}
TEAMS = {
    "nlp": ("alice@example.com", "bob@example.com"),
    "vision": ("chen@example.com",),
    "research": ("dana@example.com", "erik@example.com"),
    "recsys": ("farah@example.com",),
    "platform": ("gus@example.com",),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Host:
    shape: Shape
    resource_id: str
    name: str
    pattern: Pattern
    team: str
    owner: str
    idle_since_hours: int  # idle, stopped, reclaimed: hours before as_of when work stopped
    resumed_hours: int = 0  # reclaimed: hours before as_of when work started again
    terminated_hours: int = 0  # stopped: hours before as_of when it was terminated (0: running)

    @property
    def tags(self) -> dict[str, str]:
        workload = WORKLOAD_TAGS.get(self.pattern, self.pattern)
        return {"team": self.team, "owner": self.owner, "workload": workload}

    def runs_in(self, hours_left: int) -> bool:
        """Whether the host existed in the hour starting ``hours_left`` hours before as_of."""
        return self.terminated_hours == 0 or hours_left > self.terminated_hours


def generate_fleet(*, seed: int = 7, host_count: int = 30) -> list[Host]:
    """``host_count`` hosts; the first follow :data:`FIXED_PATTERNS`, so a small fleet still
    shows every behaviour it has room for (4 hosts: idle, nightly, underused, busy)."""
    if host_count < 4:
        raise ValueError("a demo fleet needs at least 4 hosts, one per basic pattern")
    rng = random.Random(seed)
    multi_gpu = [shape for shape in SHAPES if shape.gpu_count > 1]
    by_type = {shape.instance_type: shape for shape in DEMO_SHAPES}
    hosts: list[Host] = []
    for index in range(host_count):
        pattern: Pattern
        if index < len(FIXED_PATTERNS):
            pattern = FIXED_PATTERNS[index]
        else:
            pattern = rng.choices(("busy", "idle", "nightly", "underused"), (5, 2, 2, 2))[0]
        if pattern == "underused":
            shape = rng.choice(multi_gpu)
        else:  # most GPU hosts are small inference and notebook boxes, a few are 8-GPU
            shape = rng.choices(SHAPES, [8 // shape.gpu_count for shape in SHAPES])[0]
        if index < len(FIXED_PATTERNS):
            shape = by_type.get(_FIXED_SHAPES.get(pattern, ""), shape)
        team = rng.choice(sorted(TEAMS))
        name = f"{team}-{SLUGS[shape.instance_type]}-{index:02d}"
        resource_id = _resource_id(shape, name, rng)
        owner = rng.choice(TEAMS[team])
        idle_since = rng.randint(4, 21) * 24 if pattern == "idle" else 0
        if pattern == "stopped":
            idle_since = STOPPED_IDLE_SINCE_HOURS
        elif pattern == "reclaimed":
            idle_since = RECLAIMED_IDLE_SINCE_HOURS
        hosts.append(
            Host(
                shape=shape,
                resource_id=resource_id,
                name=name,
                pattern=pattern,
                team=team,
                owner=owner,
                idle_since_hours=idle_since,
                resumed_hours=RECLAIMED_RESUMED_HOURS if pattern == "reclaimed" else 0,
                terminated_hours=STOPPED_TERMINATED_HOURS if pattern == "stopped" else 0,
            )
        )
    return hosts


def _resource_id(shape: Shape, name: str, rng: random.Random) -> str:
    if shape.provider == "aws":
        return f"i-0{rng.getrandbits(64):016x}"
    if shape.provider == "gcp":
        return f"projects/acme-ml/zones/{shape.region}-a/instances/{name}"
    return (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ml/providers/"
        f"Microsoft.Compute/virtualMachines/{name}"
    )


def hours(*, as_of: dt.datetime, days: int) -> list[dt.datetime]:
    """Every whole UTC hour in ``[as_of - days, as_of)``."""
    end = as_of.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return [end - dt.timedelta(hours=h) for h in range(days * 24, 0, -1)]


def resource_records(
    hosts: list[Host], *, as_of: dt.datetime, days: int = 30
) -> list[ResourceRecord]:
    """Inventory as an EC2/GCE/Azure inventory collector records it."""
    launched = hours(as_of=as_of, days=days)[0]
    return [
        ResourceRecord(
            provider=host.shape.provider,
            resource_id=host.resource_id,
            account_id=FOCUS_PROVIDER[host.shape.provider][3],
            region=host.shape.region,
            name=host.name,
            instance_type=host.shape.instance_type,
            gpu_count=host.shape.gpu_count,
            gpu_model=host.shape.gpu_model,
            gpu_memory_bytes=host.shape.gpu_memory_gib * GIB,
            lifecycle="on_demand",
            tags=host.tags,
            owner=host.owner,
            team=host.team,
            launched_at=launched,
            state="terminated" if host.terminated_hours else "running",
        )
        for host in hosts
    ]
