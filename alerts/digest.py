"""The daily digest: one message per channel per day instead of one per finding.

Three parts, each present only when it has something to say:

* findings with a saving: the ``top_n`` biggest, the rest summed per currency;
* spend anomalies (no saving, an excess over the usual daily spend): the ``top_n`` biggest
  excesses, with the day and the amount against the baseline median;
* unmonitored GPUs (no saving, no telemetry): one line naming them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from alerts.evidence_fields import escape, money
from alerts.messages import Message, clip, finding_url, owner_text, title_of

Finding = Mapping[str, Any]


def digest_message(
    findings: Sequence[Finding],
    *,
    day: dt.date,
    top_n: int,
    dashboard_base_url: str,
) -> Message:
    anomalies = [f for f in findings if f["kind"] == "spend_anomaly"]
    blind = [f for f in findings if f["kind"] == "unmonitored_gpu"]
    savings = [f for f in findings if f["kind"] not in ("spend_anomaly", "unmonitored_gpu")]
    parts = []
    if savings or not findings:
        noun = "finding" if len(savings) == 1 else "findings"
        parts.append(f"{len(savings)} {noun}, {_sum_by_currency(savings)} a month")
    if anomalies:
        parts.append(f"{len(anomalies)} spend anomal{'y' if len(anomalies) == 1 else 'ies'}")
    if blind:
        parts.append(f"{len(blind)} unmonitored GPU instance{'' if len(blind) == 1 else 's'}")
    headline = f"spendwatch digest {day.isoformat()}: {'; '.join(parts)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(headline)}}
    ]
    blocks += _saving_blocks(savings, top_n=top_n, dashboard_base_url=dashboard_base_url)
    blocks += _anomaly_blocks(anomalies, top_n=top_n, dashboard_base_url=dashboard_base_url)
    if blind:
        names = ", ".join(f"`{escape(str(f['resource_id']))}`" for f in blind[:top_n])
        if len(blind) > top_n:
            names += f" and {len(blind) - top_n} more"
        line = (
            f":mag: Billed but sending no GPU telemetry, so idle and rightsizing checks cannot "
            f"see them: {names}. Install dcgm-exporter or the NVML agent. "
            f"<{dashboard_base_url.rstrip('/')}/findings|See all findings>"
        )
        blocks.append(_context(line))
    return {"text": headline, "blocks": blocks}


def _saving_blocks(
    findings: Sequence[Finding], *, top_n: int, dashboard_base_url: str
) -> list[dict[str, Any]]:
    ranked = sorted(findings, key=lambda f: (-Decimal(f["monthly_savings"]), int(f["id"])))
    top, rest = ranked[:top_n], ranked[top_n:]
    blocks = []
    for finding in top:
        url = finding_url(dashboard_base_url, int(finding["id"]))
        line = (
            f"*{money(finding['monthly_savings'], str(finding['currency']))}/month* · "
            f"{title_of(finding)} · `{escape(str(finding['resource_id']))}` · "
            f"{escape(owner_text(finding))} · <{url}|details>"
        )
        blocks.append(_section(line))
    if rest:
        more = f"…and {len(rest)} more worth {_sum_by_currency(rest)} a month. "
        more += f"<{dashboard_base_url.rstrip('/')}/findings|See all findings>"
        blocks.append(_context(more))
    return blocks


def _anomaly_blocks(
    anomalies: Sequence[Finding], *, top_n: int, dashboard_base_url: str
) -> list[dict[str, Any]]:
    if not anomalies:
        return []
    ranked = sorted(anomalies, key=lambda f: (-_excess(f), int(f["id"])))
    blocks = [_section("*Spend anomalies* (a day well above its usual spend)")]
    for finding in ranked[:top_n]:
        evidence = finding.get("evidence") or {}
        currency = str(evidence.get("currency") or finding["currency"])
        url = finding_url(dashboard_base_url, int(finding["id"]))
        line = (
            f"*+{money(_excess(finding), currency)}* on {evidence.get('day', '?')} · "
            f"`{escape(str(finding['resource_id']))}` · "
            f"{money(evidence.get('amount', '0'), currency)} vs usual "
            f"{money(evidence.get('baseline_median', '0'), currency)}/day · <{url}|details>"
        )
        blocks.append(_section(line))
    if len(ranked) > top_n:
        more = f"…and {len(ranked) - top_n} more anomalies. "
        more += f"<{dashboard_base_url.rstrip('/')}/findings|See all findings>"
        blocks.append(_context(more))
    return blocks


def _excess(finding: Finding) -> Decimal:
    return Decimal(str((finding.get("evidence") or {}).get("excess_over_median") or 0))


def _sum_by_currency(findings: Sequence[Finding]) -> str:
    totals: dict[str, Decimal] = {}
    for finding in findings:
        currency = str(finding["currency"])
        totals[currency] = totals.get(currency, Decimal(0)) + Decimal(finding["monthly_savings"])
    if not totals:
        return money(Decimal(0), "USD")
    return " + ".join(money(amount, currency) for currency, amount in sorted(totals.items()))


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
