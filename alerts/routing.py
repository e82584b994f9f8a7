"""Who hears about a finding: the channel for its team/owner tag, and how to mention the owner.

The channel is chosen when a notification is enqueued (pure, from settings). The mention is
resolved when it is delivered, because turning an email into a Slack user ID is a network call
(``users.lookupByEmail``) and must not happen inside the analyze transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from spendwatch.config import SlackSettings

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def route_channel(slack: SlackSettings, *, owner: str | None, team: str | None) -> str:
    """``slack.channels`` maps a tag value to a channel; the team tag wins over the owner tag."""
    lowered = {key.lower(): channel for key, channel in slack.channels.items()}
    for value in (team, owner):
        if not value:
            continue
        channel = slack.channels.get(value) or lowered.get(value.lower())
        if channel:
            return channel
    return slack.default_channel


class MentionResolver:
    """Turns an owner tag into ``<@U…>`` when Slack can tell who it is; caches email lookups.

    ``lookup_email`` returns the user ID, or None when Slack knows no such user. Without it (a
    webhook, or a dry run) only owners already given as user IDs are mentioned.
    """

    def __init__(self, lookup_email: Callable[[str], str | None] | None = None) -> None:
        self._lookup_email = lookup_email
        self._cache: dict[str, str | None] = {}

    def mention(self, owner: str | None) -> str | None:
        if not owner:
            return None
        value = owner.strip()
        if SLACK_USER_ID.match(value):
            return f"<@{value}>"
        if self._lookup_email is None or not EMAIL.match(value):
            return None
        key = value.lower()
        if key not in self._cache:
            # Negative answers are cached too: one unknown owner must not cost a call per finding.
            self._cache[key] = self._lookup_email(value)
        user_id = self._cache[key]
        return f"<@{user_id}>" if user_id else None

    @property
    def lookups(self) -> int:
        return len(self._cache)
