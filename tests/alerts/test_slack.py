"""The slack_sdk senders and mention routing against the stub: faults, URLs, secrets."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from alerts.routing import MentionResolver, route_channel
from alerts.slack import SlackRejected, SlackUnavailable, build_sender
from spendwatch.config import SlackSettings
from tests.alerts.conftest import TOKEN, WEBHOOK_SECRET, closed_port_url
from tests.alerts.slack_stub import SlackStub
from warehouse.errors import DeliveryError

MESSAGE = {
    "text": "hello",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}],
}


def _bot(stub: SlackStub, **extra: object) -> SlackSettings:
    values: dict[str, object] = {"api_base_url": stub.api_base_url, "timeout_seconds": 0.5}
    return SlackSettings(bot_token=SecretStr(TOKEN), **(values | extra))  # type: ignore[arg-type]


def _hook(url: str) -> SlackSettings:
    return SlackSettings(webhook_url=SecretStr(url), timeout_seconds=0.5)


def test_webhook_posts_json_blocks_and_maps_faults(stub: SlackStub) -> None:
    sender = build_sender(_hook(stub.webhook_url), retry_interval_seconds=0.01)
    assert sender.post(channel="#ignored", message=MESSAGE).ts is None
    [posted] = stub.posts()
    assert posted.body == {"text": "hello", "blocks": MESSAGE["blocks"]}
    stub.fail_next("channel_not_found")
    with pytest.raises(SlackRejected) as rejected:
        sender.post(channel="#x", message=MESSAGE)
    assert (rejected.value.reason, rejected.value.fatal) == ("channel_not_found", False)
    stub.fail_next("invalid_auth")
    with pytest.raises(SlackRejected) as revoked:
        sender.post(channel="#x", message=MESSAGE)
    assert (revoked.value.reason, revoked.value.fatal) == ("invalid_token", True)
    stub.fail_next("500", "500")  # the call and its one in-call retry
    with pytest.raises(SlackUnavailable, match="HTTP 500"):
        sender.post(channel="#x", message=MESSAGE)


def test_a_webhook_429_is_retried_after_retry_after(stub: SlackStub) -> None:
    stub.retry_after = 0  # slack_sdk adds up to 1 s of jitter on top
    sender = build_sender(_hook(stub.webhook_url))
    stub.fail_next("429")
    sender.post(channel="#x", message=MESSAGE)
    assert [a.outcome for a in stub.attempts()] == ["429", "ok"]


def test_bot_errors_are_classified(stub: SlackStub) -> None:
    sender = build_sender(_bot(stub), retry_interval_seconds=0.01)
    stub.fail_next("invalid_blocks")
    with pytest.raises(SlackRejected, match="invalid_blocks"):
        sender.post(channel="#c", message=MESSAGE)
    stub.fail_next("timeout")
    with pytest.raises(SlackUnavailable, match=r"did not answer within 0\.5 s"):
        sender.post(channel="#c", message=MESSAGE)
    wrong = build_sender(
        SlackSettings(bot_token=SecretStr("xoxb-wrong"), api_base_url=stub.api_base_url)
    )
    with pytest.raises(SlackRejected) as denied:
        wrong.post(channel="#c", message=MESSAGE)
    assert denied.value.fatal


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.slack.com/services/T/B/x",
        "http://10.0.0.5/services/T/B/x",
        "ftp://127.0.0.1/x",
    ],
)
def test_plain_http_is_refused_except_to_loopback_and_the_url_is_not_echoed(url: str) -> None:
    with pytest.raises(DeliveryError) as refused:
        build_sender(_hook(url))
    message = str(refused.value)
    assert message == (
        "slack.webhook_url must be an https URL (plain http is allowed only to localhost); "
        "fix SPENDWATCH_SLACK__WEBHOOK_URL"
    )
    assert "/services/" not in message


def test_api_base_url_gets_its_trailing_slash_and_plain_http_is_refused(stub: SlackStub) -> None:
    sender = build_sender(_bot(stub, api_base_url=stub.api_base_url.rstrip("/")))
    sender.post(channel="#c", message=MESSAGE)
    assert stub.posts()[0].path == "/api/chat.postMessage"
    with pytest.raises(DeliveryError, match=r"slack.api_base_url \(http://slack.example/api/\)"):
        build_sender(
            SlackSettings(bot_token=SecretStr(TOKEN), api_base_url="http://slack.example/api/")
        )


def test_no_destination_is_a_one_line_error() -> None:
    with pytest.raises(DeliveryError, match="no Slack destination configured"):
        build_sender(SlackSettings())


def test_secrets_never_reach_logs_or_errors(
    stub: SlackStub, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    down_hook = closed_port_url().replace("/api/", f"/services/{WEBHOOK_SECRET}")
    senders = [
        build_sender(_hook(stub.webhook_url), retry_interval_seconds=0.01),
        build_sender(_hook(down_hook), retry_interval_seconds=0.01),
        build_sender(_bot(stub), retry_interval_seconds=0.01),
        build_sender(_bot(stub, api_base_url=closed_port_url()), retry_interval_seconds=0.01),
    ]
    senders[0].post(channel="#c", message=MESSAGE)
    for sender in senders:
        for fault in ("invalid_auth", "500", "timeout"):
            stub.fail_next(fault, fault)
            try:
                sender.post(channel="#c", message=MESSAGE)
            except DeliveryError as exc:
                errors.append(str(exc))
            stub.clear_faults()  # a sender that never reached the stub leaves its faults behind
    captured = capsys.readouterr()
    text = caplog.text + captured.out + captured.err + "\n".join(errors)
    assert "Sending a request" in caplog.text  # slack_sdk did log at DEBUG: the filter ran
    assert "[redacted]" in caplog.text
    for secret in (TOKEN, WEBHOOK_SECRET, "HOOKSECRETPATH", "TOPSECRETTOKEN"):
        assert secret not in text
    assert any("cannot reach Slack" in error for error in errors)


def test_routing_by_team_then_owner_then_default() -> None:
    slack = SlackSettings(channels={"nlp": "#nlp-costs", "ana@example.com": "#ana"})
    assert route_channel(slack, owner="bob", team="NLP") == "#nlp-costs"
    assert route_channel(slack, owner="ana@example.com", team="vision") == "#ana"
    assert route_channel(slack, owner=None, team=None) == "#finops"


def test_mentions_use_user_ids_as_given_and_look_up_emails_once(stub: SlackStub) -> None:
    stub.users["ana@example.com"] = "U024BE7LH"
    sender = build_sender(_bot(stub))
    resolver = MentionResolver(sender.lookup_email)
    assert resolver.mention("W012A3CDE") == "<@W012A3CDE>"
    assert resolver.mention("Ana@Example.com") == "<@U024BE7LH>"
    assert resolver.mention("ana@example.com") == "<@U024BE7LH>"
    assert resolver.mention("ghost@example.com") is None
    assert resolver.mention("ghost@example.com") is None
    assert resolver.mention("team-nlp") is None
    lookups = [r for r in stub.requests if r.path == "/api/users.lookupByEmail"]
    assert [(r.body["email"], r.outcome) for r in lookups] == [
        ("Ana@Example.com", "ok"),
        ("ghost@example.com", "users_not_found"),
    ]
    assert MentionResolver(None).mention("ana@example.com") is None
