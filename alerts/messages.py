"""Block Kit messages: one per finding, and a thread reply when it resolves.

Pure functions: a finding snapshot (the JSON the outbox stored) in, a ``{"text", "blocks"}``
message out. ``text`` is the notification fallback Slack shows where blocks cannot render.
Amounts are in the finding's own currency (the billing currency), formatted by Babel. What each
kind shows from its evidence is in :mod:`alerts.evidence_fields`; spend anomalies, which are
about a day's spend rather than a saving, have their own layout (:func:`anomaly_message`). The
daily digest is in :mod:`alerts.digest`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from alerts.evidence_fields import escape, kind_caveats, kind_fields, money

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
FIELDS_LIMIT = 10  # Slack's limit of fields in one section


def title_of(finding: Mapping[str, Any]) -> str:
    return KIND_TITLES.get(str(finding["kind"]), str(finding["kind"]))


def finding_url(dashboard_base_url: str, finding_id: int) -> str:
    return f"{dashboard_base_url.rstrip('/')}/findings?id={finding_id}"


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
    if finding["kind"] == "spend_anomaly":
        return anomaly_message(finding, dashboard_base_url=dashboard_base_url)
    currency = str(finding["currency"])
    saving = money(finding["monthly_savings"], currency)
    title = title_of(finding)
    if finding["kind"] == "unmonitored_gpu":
        # Nothing to save until someone can see the GPU: "wastes $0.00" would be a lie.
        headline = f"{title}: billed, but sends no GPU telemetry"
    elif event == "escalated" and previous_savings is not None:
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
    fields.append(_field("Owner", owner_mention or escape(owner_text(finding))))
    if finding["kind"] != "unmonitored_gpu":
        fields.append(_field("Monthly saving", saving))
    evidence = finding.get("evidence") or {}
    since = _first(evidence, IDLE_SINCE_KEYS)
    if since is not None:
        fields.append(_field("Idle since", _when(str(since))))
    so_far = _first(evidence, COST_SO_FAR_KEYS)
    if so_far is not None:
        fields.append(_field("Cost so far", money(str(so_far), currency)))
    fields += [
        _field(label, value) for label, value in kind_fields(finding["kind"], evidence, currency)
    ]
    blocks: list[dict[str, Any]] = [
        _header(headline),
        {"type": "section", "fields": fields[:FIELDS_LIMIT]},
        _markdown(f"*Recommended action:* {escape(str(finding['recommendation']))}"),
    ]
    caveats = kind_caveats(str(finding["kind"]), evidence)
    if caveats:
        blocks.append(_context(" ".join(f":warning: {caveat}" for caveat in caveats)))
    blocks += [
        _button(url),
        _context(f"finding {finding['id']} · confidence {finding['confidence']}"),
    ]
    text = f"{headline}: {finding['resource_id']}, owner {owner_text(finding)}. {url}"
    return {"text": text, "blocks": blocks}


def anomaly_message(finding: Mapping[str, Any], *, dashboard_base_url: str) -> Message:
    """A day whose spend stood out: the amount against the baseline median, the excess and z.

    Reads the evidence of :func:`analytics.anomalies.spend_anomaly_findings`.
    """
    evidence = finding.get("evidence") or {}
    currency = str(evidence.get("currency") or finding["currency"])
    provider = str(finding.get("provider") or "unknown provider")
    account = str(finding.get("account_id") or "(no account)")
    service = _anomaly_service(finding)
    day = str(evidence.get("day") or "?")
    amount = money(evidence.get("amount", "0"), currency)
    median = money(evidence.get("baseline_median", "0"), currency)
    excess = money(evidence.get("excess_over_median", "0"), currency)
    z = evidence.get("robust_z")
    z_text = f"{z:.1f}" if z is not None else "∞ (flat baseline)"
    url = finding_url(dashboard_base_url, int(finding["id"]))
    headline = f"Spend anomaly: {service} cost {amount} on {day}"
    fields = [
        _field("Provider", escape(provider)),
        _field("Account", f"`{escape(account)}`"),
        _field("Service", escape(service)),
        _field("Day", f"{day} (UTC)"),
        _field("Spent vs usual", f"{amount} vs {median}/day (baseline median)"),
        _field("Excess", f"+{excess} · robust z {z_text}"),
    ]
    baseline = (
        f"Baseline: {evidence.get('baseline_days', '?')} days "
        f"{evidence.get('baseline_start', '?')} to {evidence.get('baseline_end', '?')}, "
        f"median {median}/day, MAD {money(evidence.get('baseline_mad', '0'), currency)}."
    )
    if evidence.get("spend_definition"):
        baseline += f" Spend counted: {escape(str(evidence['spend_definition']))}."
    blocks: list[dict[str, Any]] = [
        _header(headline),
        {"type": "section", "fields": fields},
        _markdown(f"*What to do:* {escape(str(finding['recommendation']))}"),
        _context(baseline),
        _button(url),
        _context(f"finding {finding['id']} · confidence {finding['confidence']}"),
    ]
    text = (
        f"Spend anomaly: {service} ({provider} account {account}) cost {amount} on {day}, "
        f"{excess} above its usual {median}/day (robust z {z_text}). {url}"
    )
    return {"text": text, "blocks": blocks}


def resolved_message(finding: Mapping[str, Any], *, dashboard_base_url: str) -> Message:
    """The thread reply under the original alert (or a standalone post where threads are absent)."""
    currency = str(finding["currency"])
    title = title_of(finding)
    saving = money(finding["monthly_savings"], currency)
    url = finding_url(dashboard_base_url, int(finding["id"]))
    resource = escape(str(finding["resource_id"]))
    if finding["kind"] == "unmonitored_gpu":
        line = f":white_check_mark: Resolved: `{resource}` now sends GPU telemetry. <{url}|Details>"
        text = f"Resolved: {finding['resource_id']} now sends GPU telemetry. {url}"
    else:
        line = (
            f":white_check_mark: Resolved: {title} on `{resource}` "
            f"no longer shows this waste (it was {saving} a month). <{url}|Details>"
        )
        text = f"Resolved: {title} on {finding['resource_id']} (was {saving} a month). {url}"
    return {"text": text, "blocks": [_markdown(line)]}


def clip(text: str) -> str:
    return text if len(text) <= HEADER_LIMIT else text[: HEADER_LIMIT - 1] + "…"


def _anomaly_service(finding: Mapping[str, Any]) -> str:
    # resource_id is provider/account/service; the service itself may contain slashes.
    parts = str(finding["resource_id"]).split("/", 2)
    return parts[2] if len(parts) == 3 and parts[2] else str(finding["resource_id"])


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text)}}


def _markdown(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _button(url: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Open in spendwatch"},
                "url": url,
                "action_id": "open_finding",
            }
        ],
    }


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{label}*\n{value}"}


def _account_region(finding: Mapping[str, Any]) -> str:
    parts = [str(finding.get(key) or "") for key in ("provider", "account_id", "region")]
    shown = " · ".join(escape(part) for part in parts if part)
    return shown or "unknown"


def owner_text(finding: Mapping[str, Any]) -> str:
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
