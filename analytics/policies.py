"""Thresholds the GPU rules take, as plain frozen dataclasses.

Rules never read settings: the composition root (``spendwatch/``) builds these from
``Settings.analytics`` and passes them in, so a test can state its thresholds in one line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

# Hours in an average month (8760 / 12): the industry's convention for monthly run rates.
HOURS_PER_MONTH = Decimal(730)

# Telemetry that reads the GPU itself; CloudWatch re-publishes nvidia-smi minutes later and
# loses samples, so findings built on it get medium confidence.
HIGH_CONFIDENCE_SOURCES: tuple[str, ...] = ("dcgm", "nvidia_smi_exporter", "nvml")


@dataclasses.dataclass(frozen=True, slots=True)
class IdleGpuPolicy:
    """When an instance counts as idle, and how its cost is measured."""

    window_hours: int = 24
    active_util_percent: float = 5.0
    min_coverage: float = 0.9  # share of window hours with GPU samples ("it ran the whole time")
    cost_lookback_days: int = 7
    # How far back to look for the last active hour, to say since when a GPU has been idle.
    idle_since_lookback_days: int = 30
    # Memory held by an idle GPU is reported in the evidence from this size up (drivers and
    # monitoring agents alone hold a few hundred MiB).
    held_memory_note_bytes: int = 1 << 30
    default_currency: str = "USD"

    def __post_init__(self) -> None:
        if self.window_hours <= 0:
            raise ValueError(f"window_hours must be positive, got {self.window_hours}")
        if not 0 < self.min_coverage <= 1:
            raise ValueError(f"min_coverage must be in (0, 1], got {self.min_coverage}")
        if self.cost_lookback_days <= 0:
            raise ValueError(f"cost_lookback_days must be positive, got {self.cost_lookback_days}")

    @property
    def window(self) -> dt.timedelta:
        return dt.timedelta(hours=self.window_hours)

    @property
    def cost_lookback(self) -> dt.timedelta:
        return dt.timedelta(days=self.cost_lookback_days)

    @property
    def min_hours_observed(self) -> int:
        """Hours with samples needed before the rule may call an instance idle (ceil)."""
        needed = self.min_coverage * self.window_hours
        whole = int(needed)
        return whole if whole >= needed - 1e-9 else whole + 1


@dataclasses.dataclass(frozen=True, slots=True)
class RightsizingPolicy:
    """When a GPU instance is larger than its work, and what may replace it."""

    lookback_days: int = 7
    active_util_percent: float = 5.0
    min_active_share: float = 0.05  # a GPU counts as used when active in this share of hours
    min_coverage: float = 0.5  # share of lookback hours with samples before judging at all
    p95_util_percent: float = 30.0  # every GPU used but p95 below this: try a cheaper model

    def __post_init__(self) -> None:
        if self.lookback_days <= 0:
            raise ValueError(f"lookback_days must be positive, got {self.lookback_days}")
        for name in ("min_active_share", "min_coverage"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")

    @property
    def lookback(self) -> dt.timedelta:
        return dt.timedelta(days=self.lookback_days)


@dataclasses.dataclass(frozen=True, slots=True)
class SpotPolicy:
    """Which on-demand GPU instances could run on spot capacity."""

    lookback_days: int = 30
    workload_tag: str = "workload"  # Settings.tags.workload
    interruptible_workloads: tuple[str, ...] = ("training", "batch", "ci", "dev")
    max_median_run_hours: float = 6.0  # shorter median run than this: interruptible by nature
    spot_percentile: float = 0.9  # of spot prices over the lookback: a pessimistic spot price

    def __post_init__(self) -> None:
        if self.lookback_days <= 0:
            raise ValueError(f"lookback_days must be positive, got {self.lookback_days}")
        if not 0 < self.spot_percentile <= 1:
            raise ValueError(f"spot_percentile must be in (0, 1], got {self.spot_percentile}")

    @property
    def lookback(self) -> dt.timedelta:
        return dt.timedelta(days=self.lookback_days)


@dataclasses.dataclass(frozen=True, slots=True)
class StorageTier:
    """One colder tier: from how many idle days it fits, its price and its move cost."""

    name: str
    min_idle_days: int  # minimum storage duration and retrieval break-even, in days
    price_per_gb_month: Decimal
    transition_per_1000: Decimal  # one-time request charge per 1,000 objects moved


# Storage prices without a snapshot yet, per GB-month (GB = 2**30 bytes, as the providers bill).
# S3: us-east-1 public list prices (aws.amazon.com/s3/pricing); lifecycle transitions per 1,000
# requests. Azure: Blob Storage LRS list prices, ILLUSTRATIVE only (regions differ). GCS prices
# come from the prices table (snapshot of pricing.yml, 2026-07-30); these GCS rows are the
# fallback when a region is missing, and the GCS move costs are Class A operation prices.
S3_PRICES_SOURCE = "policy table: S3 us-east-1 public list prices"
AZURE_PRICES_SOURCE = "policy table: Azure Blob LRS list prices (illustrative)"
GCS_PRICES_SOURCE = "policy table: GCS list prices (pricing.yml 2026-07-30)"
HOT_TIERS: dict[str, tuple[str, Decimal, str]] = {
    "aws": ("STANDARD", Decimal("0.023"), S3_PRICES_SOURCE),
    "gcp": ("STANDARD", Decimal("0.02"), GCS_PRICES_SOURCE),
    "azure": ("HOT", Decimal("0.018"), AZURE_PRICES_SOURCE),
}
COLD_TIERS: dict[str, tuple[StorageTier, ...]] = {
    "aws": (
        StorageTier("STANDARD_IA", 30, Decimal("0.0125"), Decimal("0.01")),
        StorageTier("GLACIER_IR", 90, Decimal("0.004"), Decimal("0.02")),
        StorageTier("DEEP_ARCHIVE", 180, Decimal("0.00099"), Decimal("0.05")),
    ),
    "gcp": (
        StorageTier("NEARLINE", 30, Decimal("0.01"), Decimal("0.01")),
        StorageTier("COLDLINE", 90, Decimal("0.004"), Decimal("0.02")),
        StorageTier("ARCHIVE", 365, Decimal("0.0012"), Decimal("0.05")),
    ),
    "azure": (
        StorageTier("COOL", 30, Decimal("0.01"), Decimal("0.01")),
        StorageTier("COLD", 90, Decimal("0.0036"), Decimal("0.018")),
        StorageTier("ARCHIVE", 180, Decimal("0.00099"), Decimal("0.02")),
    ),
}


# Classes the rule never recommends but that hold data to be costed (S3 us-east-1 list prices):
# Glacier Flexible Retrieval and One Zone-IA.
OTHER_STORAGE_PRICES: dict[tuple[str, str], Decimal] = {
    ("aws", "GLACIER"): Decimal("0.0036"),
    ("aws", "ONEZONE_IA"): Decimal("0.01"),
}


@dataclasses.dataclass(frozen=True, slots=True)
class ColdStoragePolicy:
    """When a hot-tier prefix should move colder, and what each tier costs."""

    small_object_bytes: int = 128 << 10  # billed as 128 KiB in IA/GIR tiers: never worth moving
    transition_amortize_months: int = 12
    min_monthly_saving: Decimal = Decimal("0.01")
    hot_tiers: dict[str, tuple[str, Decimal, str]] = dataclasses.field(
        default_factory=lambda: dict(HOT_TIERS)
    )
    cold_tiers: dict[str, tuple[StorageTier, ...]] = dataclasses.field(
        default_factory=lambda: dict(COLD_TIERS)
    )
    other_prices: dict[tuple[str, str], Decimal] = dataclasses.field(
        default_factory=lambda: dict(OTHER_STORAGE_PRICES)
    )


@dataclasses.dataclass(frozen=True, slots=True)
class SpendAnomalyPolicy:
    """When a day's spend is unusual, and how the month-end forecast is made."""

    baseline_days: int = 28
    evaluate_days: int = 3  # the last complete days judged on each run
    min_baseline_days: int = 14  # fewer days of history: too little to judge
    robust_z: float = 3.0
    mad_scale: float = 1.4826  # MAD x this estimates a standard deviation for normal data
    min_amount: Decimal = Decimal(50)  # excess over the median, in the billing currency
    forecast_trailing_days: int = 7

    def __post_init__(self) -> None:
        if self.min_baseline_days > self.baseline_days:
            raise ValueError("min_baseline_days cannot exceed baseline_days")
