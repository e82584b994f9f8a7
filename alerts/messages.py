"""Block Kit messages: one per finding, a thread reply when it resolves, and a daily digest.

Pure functions: a finding snapshot (the JSON the outbox stored) in, a ``{"text", "blocks"}``
message out. ``text`` is the notification fallback Slack shows where blocks cannot render.
Amounts are in the finding's own currency (the billing currency), formatted by Babel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency

Message = dict[str, Any]

KIND_TITLES: dict[str, str] = {
    "idle_gpu": "Idle GPU",
    "unmonitored_gpu": "Unmonitored GPU",
    "gpu_rightsizing": "Oversized GPU instance",
    "spot_candidate": "Spot candidate",
    "cold_storage": "Data for a colder storage tier",
    "spend_anomaly": "Spend anomaly",
}
# Rules name their evidence freely; these are the keys that mean "since when" and "spent so far".
IDLE_SINCE_KEYS = ("idle_since", "since", "first_idle_at")
COST_SO_FAR_KEYS = ("cost_so_far", "wasted_so_far", "idle_cost_so_far")
HEADER_LIMIT = 150  # Slack's limit for a header's plain_text


def money(amount: Decimal | str, currency: str) -> str:
    return format_currency(Decimal(amount), currency, locale="en_US")


def finding_url(dashboard_base_url: str, finding_id: int) -> str:
    return f"{dashboard_base_url.rstrip('/')}/findings?id={finding_id}"


def escape(text: str) -> str:
    """mrkdwn treats &, < and > as markup; resource names must not become links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def finding_message(
    finding: Mapping[str, Any],
    *,
    event: str,
    dashboard_base_url: str,
    owner_mention: str | None = None,
    previous_savings: Decimal | None = None,
    reopened: bool = False,
) -> Message:
    """The alert for one finding. ``event`` is opened, escalated or reminder."""
    currency = str(finding["currency"])
    saving = money(finding["monthly_savings"], currency)
    title = KIND_TITLES.get(str(finding["kind"]), str(finding["kind"]))
    if event == "escalated" and previous_savings is not None:
        was = money(previous_savings, currency)
        headline = f"Escalated: {title} now wastes {saving} a month (was {was})"
    elif event == "reminder":
        headline = f"Reminder: {title} still wastes {saving} a month"
    elif reopened:
        headline = f"Back again: {title} wastes {saving} a month"
    else:
        headline = f"{title} wastes {saving} a month"
    url = finding_url(dashboard_base_url, int(finding["id"]))
    fields = [_field("Resource", f"`{escape(str(finding['resource_id']))}`")]
    fields.append(_field("Account / region", _account_region(finding)))
    fields.append(_field("Owner", owner_mention or escape(_owner_text(finding))))
    fields.append(_field("Monthly saving", saving))
    evidence = finding.get("evidence") or {}
    since = _first(evidence, IDLE_SINCE_KEYS)
    if since is not None:
        fields.append(_field("Idle since", _when(str(since))))
    so_far = _first(evidence, COST_SO_FAR_KEYS)
    if so_far is not None:
        fields.append(_field("Cost so far", money(str(so_far), currency)))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(headline)}},
        {"type": "section", "fields": fields},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*Recommended action:* {escape(str(finding['recommendation']))}",
            },
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in spendwatch"},
                    "url": url,
                    "action_id": "open_finding",
                }
            ],
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"finding {finding['id']} · confidence {finding['confidence']}",
                }
            ],
        },
    ]
    text = f"{headline}: {finding['resource_id']}, owner {_owner_text(finding)}. {url}"
    return {"text": text, "blocks": blocks}


def resolved_message(finding: Mapping[str, Any], *, dashboard_base_url: str) -> Message:
    """The thread reply under the original alert (or a standalone post where threads are absent)."""
    currency = str(finding["currency"])
    title = KIND_TITLES.get(str(finding["kind"]), str(finding["kind"]))
    saving = money(finding["monthly_savings"], currency)
    url = finding_url(dashboard_base_url, int(finding["id"]))
    line = (
        f":white_check_mark: Resolved: {title} on `{escape(str(finding['resource_id']))}` "
        f"no longer shows this waste (it was {saving} a month). <{url}|Details>"
    )
    text = f"Resolved: {title} on {finding['resource_id']} (was {saving} a month). {url}"
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": line}}]}


def digest_message(
    findings: Sequence[Mapping[str, Any]],
    *,
    day: dt.date,
    top_n: int,
    dashboard_base_url: str,
) -> Message:
    """One message per channel per day: the ``top_n`` biggest savings, the rest summed."""
    ranked = sorted(findings, key=lambda f: (-Decimal(f["monthly_savings"]), int(f["id"])))
    top, rest = ranked[:top_n], ranked[top_n:]
    total = _sum_by_currency(ranked)
    headline = f"spendwatch digest {day.isoformat()}: {len(ranked)} findings, {total} a month"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(headline)}}
    ]
    for finding in top:
        title = KIND_TITLES.get(str(finding["kind"]), str(finding["kind"]))
        url = finding_url(dashboard_base_url, int(finding["id"]))
        line = (
            f"*{money(finding['monthly_savings'], str(finding['currency']))}/month* · {title} · "
            f"`{escape(str(finding['resource_id']))}` · {escape(_owner_text(finding))} · "
            f"<{url}|details>"
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line}})
    if rest:
        more = f"…and {len(rest)} more worth {_sum_by_currency(rest)} a month. "
        more += f"<{dashboard_base_url.rstrip('/')}/findings|See all findings>"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return {"text": headline, "blocks": blocks}


def _sum_by_currency(findings: Sequence[Mapping[str, Any]]) -> str:
    totals: dict[str, Decimal] = {}
    for finding in findings:
        currency = str(finding["currency"])
        totals[currency] = totals.get(currency, Decimal(0)) + Decimal(finding["monthly_savings"])
    return " + ".join(money(amount, currency) for currency, amount in sorted(totals.items()))


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{label}*\n{value}"}


def _account_region(finding: Mapping[str, Any]) -> str:
    parts = [str(finding.get(key) or "") for key in ("provider", "account_id", "region")]
    shown = " · ".join(escape(part) for part in parts if part)
    return shown or "unknown"


def _owner_text(finding: Mapping[str, Any]) -> str:
    owner, team = finding.get("owner"), finding.get("team")
    if owner and team:
        return f"{owner} · team {team}"
    return str(owner or team or "no owner tag")


def _first(evidence: Mapping[str, Any], keys: Sequence[str]) -> Any:
    return next((evidence[key] for key in keys if evidence.get(key) is not None), None)


def _when(value: str) -> str:
    """ISO timestamps read better as 'YYYY-MM-DD HH:MM UTC'; anything else is shown as given."""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return escape(value)
    if moment.tzinfo is None:
        return escape(value)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _clip(text: str) -> str:
    return text if len(text) <= HEADER_LIMIT else text[: HEADER_LIMIT - 1] + "…"
