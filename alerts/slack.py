"""Posting to Slack with slack_sdk, and translating its failures into two kinds of DeliveryError.

Two destinations:

* an incoming webhook (``slack.webhook_url``): ``WebhookClient``; one fixed channel, no
  message ``ts`` back, so no threads;
* a bot token (``slack.bot_token``): ``WebClient.chat_postMessage`` to the routed channel, thread
  replies, and ``users.lookupByEmail`` for owner mentions. ``slack.api_base_url`` points it at
  Slack or at a local stub.

Both clients get ``RateLimitErrorRetryHandler`` (a 429 waits for its Retry-After and tries
again) and ``ServerErrorRetryHandler`` (a 500/503 is retried once in the call); what is still
failing after that is :class:`SlackUnavailable` and the outbox backs off.
:class:`SlackRejected` is Slack saying no for good (``channel_not_found``, ``invalid_blocks``,
``invalid_auth``…): retrying cannot help.

Secrets: the webhook URL is itself a credential. slack_sdk logs it (at INFO when it retries a
connection error, at DEBUG for every request), so the clients log through a logger that
replaces the webhook URL, its path and the token with ``[redacted]``; our own messages never
include them either.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from typing import Protocol, cast
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    BackoffRetryIntervalCalculator,
    ConnectionErrorRetryHandler,
    FixedValueRetryIntervalCalculator,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryIntervalCalculator,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from alerts.messages import Message
from spendwatch.config import SlackSettings
from warehouse.errors import DeliveryError

log = logging.getLogger(__name__)

# Slack's error codes that will not change on a retry. The FATAL ones concern the credential or
# the webhook itself, so every later message would fail the same way: the run stops there.
FATAL_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "invalid_token",
        "no_service",
        "no_team",
        "team_disabled",
        "missing_scope",
    }
)
PERMANENT_ERRORS = FATAL_ERRORS | {
    "invalid_blocks",
    "invalid_blocks_format",
    "invalid_payload",
    "invalid_arguments",
    "channel_not_found",
    "channel_is_archived",
    "is_archived",
    "not_in_channel",
    "msg_too_long",
    "no_text",
    "too_many_attachments",
    "action_prohibited",
    "restricted_action",
    "posting_to_general_channel_denied",
    "user_not_found",
}


class SlackRejected(DeliveryError):
    """Slack refused the message for good; ``reason`` is Slack's error code."""

    def __init__(self, reason: str, *, fatal: bool) -> None:
        super().__init__(f"Slack rejected the message: {reason}")
        self.reason = reason
        self.fatal = fatal


class SlackUnavailable(DeliveryError):
    """Slack could not be reached or kept failing (5xx, 429, timeout); try again later."""


@dataclasses.dataclass(frozen=True, slots=True)
class Posted:
    ts: str | None  # None for webhooks, which do not return one
    channel: str | None


class SlackSender(Protocol):
    threads: bool  # can reply in a thread (needs the ts of the original)
    fixed_channel: bool  # a webhook posts to its own channel whatever we route

    def post(self, *, channel: str, message: Message, thread_ts: str | None = None) -> Posted: ...

    def lookup_email(self, email: str) -> str | None: ...


class BotSender:
    threads = True
    fixed_channel = False

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def post(self, *, channel: str, message: Message, thread_ts: str | None = None) -> Posted:
        try:
            response = self._client.chat_postMessage(
                channel=channel,
                text=message["text"],
                blocks=message["blocks"],
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            raise _api_error(exc) from None
        except Exception as exc:  # urllib/socket errors after the retry handlers gave up
            raise SlackUnavailable(_transport_reason(exc, self._client.timeout)) from None
        return Posted(ts=response.get("ts"), channel=response.get("channel"))

    def lookup_email(self, email: str) -> str | None:
        """The user ID for an email, or None; a failed lookup only costs the mention."""
        try:
            response = self._client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if exc.response.get("error") != "users_not_found":
                log.warning("users.lookupByEmail failed (%s); owner not mentioned", _code(exc))
            return None
        except Exception as exc:
            log.warning("users.lookupByEmail failed (%s)", _transport_reason(exc, 0))
            return None
        user = response.get("user") or {}
        return cast(str | None, user.get("id"))


class WebhookSender:
    threads = False
    fixed_channel = True

    def __init__(self, client: WebhookClient) -> None:
        self._client = client

    def post(self, *, channel: str, message: Message, thread_ts: str | None = None) -> Posted:
        try:
            response = self._client.send(text=message["text"], blocks=message["blocks"])
        except Exception as exc:
            raise SlackUnavailable(_transport_reason(exc, self._client.timeout)) from None
        body = (response.body or "").strip()
        if response.status_code == 200:
            return Posted(ts=None, channel=None)
        if response.status_code == 429 or response.status_code >= 500:
            raise SlackUnavailable(f"Slack webhook answered HTTP {response.status_code}")
        reason = body if body.replace("_", "").isalnum() else f"HTTP {response.status_code}"
        raise SlackRejected(reason, fatal=reason in FATAL_ERRORS or response.status_code == 403)

    def lookup_email(self, email: str) -> str | None:
        return None  # a webhook carries no token to ask with


def build_sender(
    slack: SlackSettings, *, retry_interval_seconds: float | None = None
) -> BotSender | WebhookSender:
    """The sender the settings describe: a bot token wins over a webhook URL."""
    token = slack.bot_token.get_secret_value().strip()
    webhook_url = slack.webhook_url.get_secret_value().strip()
    logger = _redacting_logger([token, webhook_url, urlsplit(webhook_url).path])
    handlers = _retry_handlers(slack, retry_interval_seconds)
    # urllib takes fractional seconds although slack_sdk annotates the timeout as int.
    timeout = cast(int, slack.timeout_seconds)
    if token:
        base_url = (
            slack.api_base_url if slack.api_base_url.endswith("/") else slack.api_base_url + "/"
        )
        require_safe_url(base_url, setting="slack.api_base_url", secret=False)
        client = WebClient(
            token=token, base_url=base_url, timeout=timeout, logger=logger, retry_handlers=handlers
        )
        return BotSender(client)
    if webhook_url:
        require_safe_url(webhook_url, setting="slack.webhook_url", secret=True)
        webhook = WebhookClient(
            webhook_url, timeout=timeout, logger=logger, retry_handlers=handlers
        )
        return WebhookSender(webhook)
    raise DeliveryError(
        "no Slack destination configured; set SPENDWATCH_SLACK__WEBHOOK_URL or "
        "SPENDWATCH_SLACK__BOT_TOKEN (or run `spendwatch alert --dry-run`)"
    )


def require_safe_url(url: str, *, setting: str, secret: bool) -> None:
    """https anywhere; plain http only to this machine (tests, a local relay)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    shown = setting if secret else f"{setting} ({url})"
    env = "SPENDWATCH_" + setting.upper().replace(".", "__")
    raise DeliveryError(
        f"{shown} must be an https URL (plain http is allowed only to localhost); fix {env}"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_handlers(slack: SlackSettings, interval_seconds: float | None) -> list[RetryHandler]:
    interval: RetryIntervalCalculator = (
        BackoffRetryIntervalCalculator(backoff_factor=0.5)
        if interval_seconds is None
        else FixedValueRetryIntervalCalculator(fixed_internal=interval_seconds)
    )
    return [
        ConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=interval),
        RateLimitErrorRetryHandler(max_retry_count=slack.rate_limit_retries),
        ServerErrorRetryHandler(
            max_retry_count=slack.server_error_retries, interval_calculator=interval
        ),
    ]


def _code(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or f"HTTP {exc.response.status_code}")


def _api_error(exc: SlackApiError) -> DeliveryError:
    status = exc.response.status_code
    code = _code(exc)
    if status == 429 or status >= 500 or code in {"ratelimited", "internal_error", "fatal_error"}:
        return SlackUnavailable(f"Slack answered {code} (HTTP {status})")
    if code in PERMANENT_ERRORS or 400 <= status < 500:
        return SlackRejected(code, fatal=code in FATAL_ERRORS)
    # An error code we do not know: retry with backoff; max_attempts bounds it.
    return SlackUnavailable(f"Slack answered {code}")


def _transport_reason(exc: Exception, timeout: float) -> str:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return f"Slack did not answer within {timeout:g} s"
    if isinstance(exc, URLError):
        reason = exc.reason
        detail = (
            reason.strerror
            if isinstance(reason, OSError) and reason.strerror
            else type(reason).__name__
        )
        return f"cannot reach Slack ({detail})"
    return f"cannot reach Slack ({type(exc).__name__})"


class _Redact(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        # Longest first, so the full webhook URL is replaced before its path alone.
        self._secrets = sorted({s for s in secrets if len(s) > 1}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self._secrets:
            message = message.replace(secret, "[redacted]")
        record.msg, record.args = message, None
        return True


def _redacting_logger(secrets: list[str]) -> logging.Logger:
    """A logger private to one sender, so its filter never leaks onto shared loggers."""
    logger = logging.Logger("alerts.slack.sdk")
    logger.parent = logging.getLogger("alerts.slack")
    logger.addFilter(_Redact(secrets))
    return logger
