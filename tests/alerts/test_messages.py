"""Block Kit payloads against golden files (regenerate: SPENDWATCH_UPDATE_GOLDEN=1, then review)."""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alerts.digest import digest_message
from alerts.messages import finding_message, money, resolved_message

GOLDEN = Path(__file__).parent / "golden"
DASHBOARD = "https://spendwatch.example.com"
# Shaped like idle_gpu's evidence: idle since 2024-09-28 12:00, 48 h at 1.624 USD/h = 77.95 so far.
IDLE = {
    "id": 42,
    "kind": "idle_gpu",
    "resource_id": "i-0abc123def4567890",
    "provider": "aws",
    "account_id": "123456789012",
    "region": "us-east-1",
    "owner": "ana@example.com",
    "team": "nlp",
    "currency": "USD",
    "monthly_savings": "1185.52",
    "recommendation": (
        "Stop or terminate i-0abc123def4567890 (1× NVIDIA A10G): "
        "no GPU did any work in the last 24 h."
    ),
    "evidence": {"idle_since": "2024-09-28T12:00:00Z", "cost_so_far": "77.95", "idle_hours": 48},
    "confidence": "high",
}


def assert_golden(name: str, message: dict[str, Any]) -> None:
    path = GOLDEN / f"{name}.json"
    rendered = json.dumps(message, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("SPENDWATCH_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.is_file(), f"{path} missing; run with SPENDWATCH_UPDATE_GOLDEN=1 and review it"
    assert rendered == path.read_text(encoding="utf-8"), f"{name} differs from {path}"


def test_opened_alert_names_the_waste_owner_evidence_and_action() -> None:
    message = finding_message(
        IDLE, event="opened", dashboard_base_url=DASHBOARD, owner_mention="<@U024BE7LH>"
    )
    assert_golden("opened_idle_gpu", message)
    fields = [f["text"] for f in message["blocks"][1]["fields"]]
    assert "*Owner*\n<@U024BE7LH>" in fields
    assert "*Idle since*\n2024-09-28 12:00 UTC" in fields
    assert "*Cost so far*\n$77.95" in fields
    assert message["blocks"][3]["elements"][0]["url"] == f"{DASHBOARD}/findings?id=42"


def test_escalated_reminder_and_resolved_golden() -> None:
    bigger = IDLE | {"monthly_savings": "2371.04"}
    escalated = finding_message(
        bigger, event="escalated", dashboard_base_url=DASHBOARD, previous_savings=Decimal("1185.52")
    )
    assert escalated["blocks"][0]["text"]["text"] == (
        "Escalated: Idle GPU now wastes $2,371.04 a month (was $1,185.52)"
    )
    assert_golden("escalated_idle_gpu", escalated)
    assert_golden(
        "reminder_idle_gpu", finding_message(IDLE, event="reminder", dashboard_base_url=DASHBOARD)
    )
    assert_golden("resolved_idle_gpu", resolved_message(IDLE, dashboard_base_url=DASHBOARD))


def test_digest_lists_the_top_n_and_sums_the_rest() -> None:
    items = [
        IDLE | {"id": 1, "resource_id": "i-a", "monthly_savings": "100.10"},
        IDLE | {"id": 2, "resource_id": "i-b", "monthly_savings": "2000"},
        IDLE | {"id": 3, "resource_id": "i-c", "monthly_savings": "350.45", "kind": "cold_storage"},
        IDLE | {"id": 4, "resource_id": "i-d", "monthly_savings": "99.45"},
    ]
    message = digest_message(items, day=dt.date(2024, 9, 30), top_n=2, dashboard_base_url=DASHBOARD)
    # total 100.10 + 2000 + 350.45 + 99.45 = 2550.00; the rest (i-a, i-d) = 199.55
    assert message["text"] == "spendwatch digest 2024-09-30: 4 findings, $2,550.00 a month"
    assert message["blocks"][-1]["elements"][0]["text"].startswith(
        "…and 2 more worth $199.55 a month."
    )
    assert_golden("digest", message)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("1234.5", "USD", "$1,234.50"),
        ("1234.5", "EUR", "€1,234.50"),
        ("1234.6", "JPY", "¥1,235"),
        ("-3", "GBP", "-£3.00"),
    ],
)
def test_amounts_are_in_the_billing_currency(amount: str, currency: str, shown: str) -> None:
    assert money(Decimal(amount), currency) == shown


def test_markup_in_resource_names_is_escaped() -> None:
    hostile = IDLE | {"resource_id": "<!channel> & co", "owner": None, "team": None}
    message = finding_message(hostile, event="opened", dashboard_base_url=DASHBOARD)
    fields = [f["text"] for f in message["blocks"][1]["fields"]]
    assert "*Resource*\n`&lt;!channel&gt; &amp; co`" in fields
    assert "*Owner*\nno owner tag" in fields
