"""`spendwatch alert` end to end: settings from the environment, a warehouse, the Slack stub."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from sqlalchemy.engine import Engine

from alerts.outbox import deliver_pending, enqueue_for_changes
from spendwatch.cli import run
from tests.alerts.conftest import (
    T0,
    TOKEN,
    WEBHOOK_SECRET,
    add_finding,
    change,
    closed_port_url,
    outbox_rows,
    sender_for,
    slack_settings,
)
from tests.alerts.slack_stub import SlackStub


def _alert(*args: str, verbose: bool = False) -> int:
    with pytest.raises(SystemExit) as done:
        run([*(["-v"] if verbose else []), "alert", "--as-of", T0.isoformat(), *args])
    return int(done.value.code or 0)


def _findings(engine: Engine, db_url: str, stub: SlackStub) -> list[int]:
    settings = slack_settings(db_url, stub)
    with engine.begin() as c:
        ids = [
            add_finding(c, resource_id="i-gpu-1", savings="1185.52", team="nlp"),
            add_finding(c, resource_id="i-gpu-2", savings="240", owner="U024BE7LH"),
            add_finding(c, resource_id="i-tiny", savings="12.40"),
            add_finding(c, resource_id="i-snoozed", savings="800", status="snoozed"),
        ]
        changes = [change(ids[0], "1185.52"), change(ids[1], "240"), change(ids[2], "12.40")]
        changes.append(change(ids[3], "800", status="snoozed"))
        enqueue_for_changes(c, changes, settings=settings, as_of=T0)
    return ids


@pytest.mark.usefixtures("env")
def test_alert_posts_one_message_per_alert_worthy_finding_and_a_rerun_posts_nothing(
    engine: Engine, db_url: str, stub: SlackStub, capsys: pytest.CaptureFixture[str]
) -> None:
    _findings(engine, db_url, stub)
    assert _alert() == 0
    assert capsys.readouterr().out.strip() == (
        "posted 2 Slack messages for 2 notifications; failed 0, skipped 0, deferred 0"
    )
    posts = stub.posts()
    assert [(p.body["channel"], p.body["text"].split(", owner")[0]) for p in posts] == [
        ("#nlp-costs", "Idle GPU wastes $1,185.52 a month: i-gpu-1"),
        ("#finops", "Idle GPU wastes $240.00 a month: i-gpu-2"),
    ]
    owner_field = posts[1].body["blocks"][1]["fields"][2]["text"]
    assert owner_field == "*Owner*\n<@U024BE7LH>"
    assert _alert() == 0
    assert "posted 0 Slack messages" in capsys.readouterr().out
    assert len(stub.attempts()) == 2


@pytest.mark.usefixtures("env")
def test_dry_run_prints_what_it_would_post_and_changes_nothing(
    engine: Engine, db_url: str, stub: SlackStub, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _findings(engine, db_url, stub)
    settings = slack_settings(db_url, stub)
    # Send the first alert for real, so that a week later a reminder is due for it.
    deliver_pending(engine, sender=sender_for(settings), settings=settings, as_of=T0, limit=1)
    before = outbox_rows(engine)
    week = (T0 + dt.timedelta(days=7)).isoformat()
    with pytest.raises(SystemExit) as done:
        run(["alert", "--dry-run", "--format", "json", "--as-of", week])
    assert done.value.code in (0, None)
    printed = json.loads(capsys.readouterr().out)
    assert [(p["channel"], p["text"].split(", owner")[0]) for p in printed] == [
        ("#finops", "Idle GPU wastes $240.00 a month: i-gpu-2"),
        ("#nlp-costs", "Reminder: Idle GPU still wastes $1,185.52 a month: i-gpu-1"),
    ]
    assert printed[1]["blocks"][3]["elements"][0]["url"].endswith(f"/findings?id={ids[0]}")
    assert outbox_rows(engine) == before
    assert len(stub.requests) == 1  # only the real post above


def test_failures_exit_1_with_one_line_and_no_secret(
    monkeypatch: pytest.MonkeyPatch,
    env: None,
    engine: Engine,
    db_url: str,
    stub: SlackStub,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _findings(engine, db_url, stub)
    stub.fail_next("invalid_auth")
    assert _alert(verbose=True) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: posted 0 Slack messages for 0 notifications; failed 1, skipped 0, deferred 0; "
        "Slack rejected: invalid_auth; stopped: Slack rejected the message: invalid_auth, "
        "the rest stay pending and will be retried\n"
    )
    # Webhook mode with Slack unreachable: slack_sdk logs the URL it retries; we must not.
    monkeypatch.delenv("SPENDWATCH_SLACK__BOT_TOKEN")
    hook = closed_port_url().replace("/api/", f"/services/{WEBHOOK_SECRET}")
    monkeypatch.setenv("SPENDWATCH_SLACK__WEBHOOK_URL", hook)
    assert _alert(verbose=True) == 1
    captured = capsys.readouterr()
    assert (
        captured.err.startswith("error: posted 0 Slack messages")
        and "cannot reach Slack" in captured.err
    )
    assert captured.err.count("\n") == 1
    assert "Going to retry the same request: POST [redacted]" in caplog.text
    for text in (caplog.text, captured.out, captured.err):
        assert TOKEN not in text and WEBHOOK_SECRET not in text
