"""What every rule produces, and what the findings store and alerts consume.

A rule is a pure function ``<kind>_findings(frames..., *, as_of, policy) -> list[Finding]``.
It never reads the clock or the database; the caller passes frames in and stores the result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

Confidence = Literal["high", "medium", "low"]
FindingKind = Literal[
    "idle_gpu",
    "unmonitored_gpu",
    "gpu_rightsizing",
    "spot_candidate",
    "cold_storage",
    "spend_anomaly",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    resource_id: str
    recommendation: str  # plain words: what to do
    monthly_savings: Decimal  # in ``currency``; 0 when the rule claims no saving
    currency: str
    confidence: Confidence
    evidence: dict[str, Any]  # JSON-safe: what a skeptical engineer needs to act
    provider: str | None = None
    account_id: str | None = None
    region: str | None = None
    owner: str | None = None
    team: str | None = None
    # Part of the identity: two different recommendations for one resource are two findings.
    action: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.kind, self.resource_id, self.action)


OWNER_FIELDS = ("provider", "account_id", "region", "owner", "team")


def owned_by(record: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`Finding` fields that say whose resource it is, from an inventory record."""
    return {name: record[name] for name in OWNER_FIELDS}


def fingerprint(kind: str, resource_id: str, action: str) -> str:
    """Stable identity across runs: kind + resource + recommended action."""
    raw = json.dumps([kind, resource_id, action], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def utc(value: dt.datetime) -> dt.datetime:
    """Refuse naive datetimes at the analytics boundary: all time here is UTC."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()}; pass an aware UTC time")
    return value.astimezone(dt.UTC)


FindingEvent = Literal["opened", "escalated", "updated", "resolved", "reopened"]


@dataclasses.dataclass(frozen=True, slots=True)
class FindingChange:
    """What storing one run's findings did to one finding; alerts decide what to send from this."""

    finding_id: int
    fingerprint: str
    kind: str
    event: FindingEvent
    monthly_savings: Decimal
    previous_savings: Decimal | None
    status: str  # the status after the change: open | snoozed | dismissed | resolved
