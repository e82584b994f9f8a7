"""When a month's bill stops changing. The dashboard's Data health page and the monthly report both
say whether a period is final or still an estimate; this is the one rule they share."""

from __future__ import annotations

import datetime as dt

# AWS, Azure and GCP restate the last month during its first days (AWS finalizes around the 3rd,
# Azure by the 5th), so a delivery that finished this long after the period ended holds the
# final bill.
FINAL_AFTER_DAYS = 5


def delivered_final(*, period_end: dt.datetime | None, finished_at: dt.datetime | None) -> bool:
    """True when a delivery of a period that ended at ``period_end`` finished late enough to be
    the final bill; unknown times are never final."""
    if period_end is None or finished_at is None:
        return False
    return finished_at >= period_end + dt.timedelta(days=FINAL_AFTER_DAYS)
