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
