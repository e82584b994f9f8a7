"""Fixtures for alert tests: a running Slack stub, settings pointing at it, findings rows."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alerts.slack import BotSender, WebhookSender, build_sender
from analytics.findings import FindingChange, fingerprint
from spendwatch.config import DatabaseSettings, Settings, SlackSettings
from tests.alerts.slack_stub import SlackStub
from warehouse.schema import findings, notification_outbox

T0 = dt.datetime(2024, 9, 30, 12, 0, tzinfo=dt.UTC)
TOKEN = "xoxb-1111-2222-TOPSECRETTOKEN"
WEBHOOK_SECRET = "T0001/B0001/HOOKSECRETPATH"


@pytest.fixture
def stub() -> Iterator[SlackStub]:
    server = SlackStub(token=TOKEN, webhook_secret=WEBHOOK_SECRET)
    yield server
    server.close()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, stub: SlackStub) -> None:
    """Settings for the `spendwatch` CLI from the environment: the warehouse and the stub."""
    monkeypatch.chdir(tmp_path)  # no stray ./spendwatch.toml
    monkeypatch.delenv("SPENDWATCH_CONFIG", raising=False)
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    monkeypatch.setenv("SPENDWATCH_SLACK__BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SPENDWATCH_SLACK__API_BASE_URL", stub.api_base_url)
    monkeypatch.setenv("SPENDWATCH_SLACK__CHANNELS", json.dumps({"nlp": "#nlp-costs"}))
    monkeypatch.setenv("SPENDWATCH_SLACK__TIMEOUT_SECONDS", "0.5")


def slack_settings(
    db_url: str, stub: SlackStub, *, webhook: bool = False, **slack: Any
) -> Settings:
    section: dict[str, Any] = {
        "api_base_url": stub.api_base_url,
        "default_channel": "#finops",
        "channels": {"nlp": "#nlp-costs"},
        "dashboard_base_url": "https://spendwatch.example.com",
        "timeout_seconds": 0.5,
        **slack,
    }
    if webhook:
        section["webhook_url"] = stub.webhook_url
    else:
        section["bot_token"] = TOKEN
    return Settings(database=DatabaseSettings(url=db_url), slack=SlackSettings(**section))


def sender_for(settings: Settings) -> BotSender | WebhookSender:
    # Short in-call waits between 5xx retries keep the suite fast; Retry-After is still honoured.
    return build_sender(settings.slack, retry_interval_seconds=0.01)


def closed_port_url() -> str:
    """An address where nothing listens: connection refused, like Slack being unreachable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/"


def add_finding(
    connection: Connection,
    *,
    resource_id: str,
    savings: str,
    owner: str | None = None,
    team: str | None = None,
    status: str = "open",
    kind: str = "idle_gpu",
    evidence: dict[str, Any] | None = None,
) -> int:
    values = {
        "fingerprint": fingerprint(kind, resource_id, "terminate"),
        "kind": kind,
        "resource_id": resource_id,
        "provider": "aws",
        "account_id": "123456789012",
        "region": "us-east-1",
        "owner": owner,
        "team": team,
        "status": status,
        "confidence": "high",
        "monthly_savings": Decimal(savings),
        "currency": "USD",
        "recommendation": f"Stop or terminate {resource_id}.",
        "evidence": evidence or {"idle_since": "2024-09-28T12:00:00Z", "cost_so_far": "77.95"},
        "first_seen": T0,
        "last_seen": T0,
        "updated_at": T0,
    }
    key = connection.execute(sa.insert(findings).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def change(
    finding_id: int,
    savings: str,
    *,
    event: str = "opened",
    status: str = "open",
    previous: str | None = None,
    kind: str = "idle_gpu",
) -> FindingChange:
    return FindingChange(
        finding_id=finding_id,
        fingerprint=f"fp-{finding_id}",
        kind=kind,
        event=event,  # type: ignore[arg-type]
        monthly_savings=Decimal(savings),
        previous_savings=Decimal(previous) if previous is not None else None,
        status=status,
    )


def set_status(engine: Engine, finding_id: int, status: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.update(findings).where(findings.c.id == finding_id).values(status=status)
        )


def outbox_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        query = sa.select(notification_outbox).order_by(notification_outbox.c.id)
        return [dict(row._mapping) for row in connection.execute(query)]
