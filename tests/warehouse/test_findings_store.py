"""The findings lifecycle, on SQLite and PostgreSQL: open, snooze, dismiss, resolve, reopen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.findings import Finding, FindingChange
from tests.analytics.gpu_tables import load, usage_line
from warehouse.errors import InputError
from warehouse.findings_store import (
    list_findings,
    savings_totals,
    set_finding_status,
    sync_findings,
)
from warehouse.schema import findings

T0 = dt.datetime(2024, 9, 30, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
GPU_KINDS = ("idle_gpu", "unmonitored_gpu")


def idle(resource_id: str = "i-1", savings: str = "1825.00", **kw: Any) -> Finding:
    values: dict[str, Any] = {
        "kind": "idle_gpu",
        "resource_id": resource_id,
        "recommendation": f"Stop or terminate {resource_id}",
        "monthly_savings": Decimal(savings),
        "currency": "USD",
        "confidence": "high",
        "evidence": {"hours_observed": 24, "hourly_cost": "2.500000"},
        "provider": "aws",
        "owner": "alice",
        "action": "terminate",
    }
    return Finding(**(values | kw))


def sync(engine: Engine, found: list[Finding], at: dt.datetime) -> list[FindingChange]:
    with engine.begin() as connection:
        return sync_findings(connection, found, as_of=at, kinds=GPU_KINDS)


def rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [
            dict(r._mapping)
            for r in connection.execute(sa.select(findings).order_by(findings.c.id))
        ]


def events(changes: list[FindingChange]) -> list[tuple[str, str]]:
    return sorted((c.event, c.status) for c in changes)


def test_a_new_finding_opens_and_a_rerun_at_the_same_time_changes_nothing(engine: Engine) -> None:
    first = sync(engine, [idle(), idle("i-2", "10.00")], T0)
    stored = rows(engine)

    assert events(first) == [("opened", "open"), ("opened", "open")]
    assert {c.finding_id for c in first} == {r["id"] for r in stored}
    assert stored[0]["first_seen"] == stored[0]["last_seen"] == T0
    assert stored[0]["monthly_savings"] == Decimal("1825.00")
    assert sync(engine, [idle(), idle("i-2", "10.00")], T0) == []
    assert rows(engine) == stored  # not even updated_at moved


def test_a_later_sighting_moves_last_seen_and_a_new_amount_is_an_update(engine: Engine) -> None:
    sync(engine, [idle()], T0)
    assert sync(engine, [idle()], T0 + dt.timedelta(hours=1)) == []
    assert rows(engine)[0]["last_seen"] == T0 + dt.timedelta(hours=1)

    changes = sync(engine, [idle(savings="3650.00")], T0 + dt.timedelta(hours=2))

    assert [(c.event, c.monthly_savings, c.previous_savings) for c in changes] == [
        ("updated", Decimal("3650.00"), Decimal("1825.00"))
    ]
    assert rows(engine)[0]["first_seen"] == T0


def test_snooze_holds_until_the_date_then_reopens_if_still_found(engine: Engine) -> None:
    [opened] = sync(engine, [idle()], T0)
    row = set_finding_status(
        engine, finding_id=opened.finding_id, action="snooze", until=T0 + 3 * DAY, at=T0
    )
    assert (row["status"], row["snoozed_until"]) == ("snoozed", T0 + 3 * DAY)

    assert sync(engine, [idle()], T0 + 2 * DAY) == []
    assert rows(engine)[0]["status"] == "snoozed"

    changes = sync(engine, [idle()], T0 + 3 * DAY)
    assert events(changes) == [("reopened", "open")]
    assert rows(engine)[0]["status"] == "open" and rows(engine)[0]["snoozed_until"] is None


def test_a_dismissal_sticks_while_the_rule_keeps_firing_and_after_it_stops(engine: Engine) -> None:
    [opened] = sync(engine, [idle()], T0)
    set_finding_status(
        engine,
        finding_id=opened.finding_id,
        action="dismiss",
        reason="demo box, kept on purpose",
        at=T0,
    )

    assert sync(engine, [idle(savings="9999.00")], T0 + DAY) == []
    assert sync(engine, [], T0 + 2 * DAY) == []
    [row] = rows(engine)
    assert (row["status"], row["dismissed_reason"]) == ("dismissed", "demo box, kept on purpose")


def test_resolves_when_the_rule_stops_and_reopens_when_it_comes_back(engine: Engine) -> None:
    sync(engine, [idle(), idle("i-2")], T0)
    other = Finding(
        kind="cold_storage",
        resource_id="s3://b/p",
        recommendation="move",
        monthly_savings=Decimal("5"),
        currency="USD",
        confidence="high",
        evidence={},
    )
    with engine.begin() as connection:
        sync_findings(connection, [other], as_of=T0, kinds=["cold_storage"])

    changes = sync(engine, [idle("i-2")], T0 + DAY)

    assert events(changes) == [("resolved", "resolved")]
    by_resource = {r["resource_id"]: r for r in rows(engine)}
    assert by_resource["i-1"]["status"] == "resolved"
    assert by_resource["i-1"]["resolved_at"] == T0 + DAY
    assert by_resource["s3://b/p"]["status"] == "open"  # another kind's rows are not touched
    assert events(sync(engine, [idle(), idle("i-2")], T0 + 2 * DAY)) == [("reopened", "open")]


def test_realized_savings_are_filled_in_once_the_week_after_is_billed(engine: Engine) -> None:
    resolved_at = T0.replace(hour=0)
    before = [usage_line("i-1", resolved_at - n * DAY, cost="60.00") for n in range(1, 8)]
    after = [usage_line("i-1", resolved_at + n * DAY, cost="12.00") for n in range(7)]
    sync(engine, [idle()], resolved_at - DAY)
    sync(engine, [], resolved_at)
    load(engine, billing=before + after[:3])

    sync(engine, [], resolved_at + 7 * DAY)  # only 3 days after are billed: wait
    assert rows(engine)[0]["realized_monthly_savings"] is None

    load(engine, billing=after[3:])
    sync(engine, [], resolved_at + 7 * DAY)
    [row] = rows(engine)
    # (420.00 before - 84.00 after) / 168 h x 730 h = 1460.00 a month.
    assert row["realized_monthly_savings"] == Decimal("1460.00")
    assert row["evidence"]["realized"] == {
        "cost_before": "420.00",
        "cost_after": "84.00",
        "window_days": 7,
    }


@pytest.mark.parametrize(
    ("action", "details", "message"),
    [
        ("snooze", {}, "snooze needs an --until date in the future"),
        ("snooze", {"until": T0 - DAY}, "snooze needs an --until date in the future"),
        ("dismiss", {"reason": "  "}, "dismiss needs a --reason"),
        ("reopen", {}, "is open; only snoozed or dismissed findings can be reopened"),
    ],
)
def test_actions_that_do_not_apply_say_why_in_one_line(
    engine: Engine, action: Any, details: dict[str, Any], message: str
) -> None:
    [opened] = sync(engine, [idle()], T0)
    with pytest.raises(InputError, match=message) as error:
        set_finding_status(engine, finding_id=opened.finding_id, action=action, at=T0, **details)
    assert "\n" not in str(error.value)
    assert rows(engine)[0]["status"] == "open"
    with pytest.raises(InputError, match="finding 999 does not exist"):
        set_finding_status(engine, finding_id=999, action="reopen", at=T0)


def test_list_findings_filters_and_sorts_by_saving_as_numbers(engine: Engine) -> None:
    # As text "900.00" > "1825.00"; as money it is smaller.
    sync(engine, [idle("i-small", "900.00"), idle("i-big", "1825.00")], T0)

    assert [r["resource_id"] for r in list_findings(engine)] == ["i-big", "i-small"]
    assert list_findings(engine, status="dismissed") == []
    with pytest.raises(InputError, match="unknown finding kind 'idle'; use one of: idle_gpu"):
        list_findings(engine, kind="idle")


def test_savings_totals_count_one_of_terminate_rightsize_spot_per_resource(engine: Engine) -> None:
    def make(
        kind: str, resource_id: str, savings: str, owner: str, currency: str = "USD"
    ) -> Finding:
        return idle(resource_id, savings, kind=kind, owner=owner, currency=currency, action=kind)

    exclusive = ["idle_gpu", "gpu_rightsizing", "spot_candidate"]
    with engine.begin() as connection:
        sync_findings(
            connection,
            [
                make("idle_gpu", "i-a", "1000.00", "alice"),
                make("gpu_rightsizing", "i-a", "600.00", "alice"),
                make("spot_candidate", "i-a", "300.00", "alice"),
                make("gpu_rightsizing", "i-b", "200.00", "bob"),
                make("spot_candidate", "i-b", "500.00", "bob"),
                make("idle_gpu", "i-eu", "80.00", "bob", currency="EUR"),
                make("idle_gpu", "i-dismissed", "7000.00", "bob"),
            ],
            as_of=T0,
            kinds=exclusive,
        )
        sync_findings(
            connection,
            [make("cold_storage", "s3://x", "50.00", "alice")],
            as_of=T0,
            kinds=["cold_storage"],
        )
    dismissed = next(r for r in rows(engine) if r["resource_id"] == "i-dismissed")
    set_finding_status(engine, finding_id=dismissed["id"], action="dismiss", reason="lab", at=T0)

    totals = {(t["group"], t["key"], t["currency"]): t for t in savings_totals(engine)}

    # i-a counts its idle 1000 only; i-b its spot 500 only; plus cold storage 50.
    assert totals["total", "all", "USD"]["monthly_savings"] == Decimal("1550.00")
    assert totals["total", "all", "EUR"]["monthly_savings"] == Decimal("80.00")
    assert totals["kind", "idle_gpu", "USD"]["monthly_savings"] == Decimal("1000.00")
    assert totals["kind", "spot_candidate", "USD"]["monthly_savings"] == Decimal("500.00")
    assert totals["kind", "gpu_rightsizing", "USD"]["monthly_savings"] == Decimal("0.00")
    assert totals["kind", "gpu_rightsizing", "USD"]["findings"] == 2
    assert totals["owner", "alice", "USD"]["monthly_savings"] == Decimal("1050.00")
    assert totals["owner", "bob", "USD"]["monthly_savings"] == Decimal("500.00")
