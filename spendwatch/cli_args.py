"""Parsing of command-line values that every command shares. Times are UTC unless they say
otherwise; a bad value is an InputError naming the option and an example of a good one."""

from __future__ import annotations

import datetime as dt

from warehouse.errors import InputError


def parse_utc(text: str, *, option: str) -> dt.datetime:
    """A date (midnight) or an ISO 8601 time; no zone means UTC. Returned in UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"{option} {text!r} is not a date or timestamp; use ISO 8601 such as "
            "2024-09-30 or 2024-09-30T12:00Z"
        ) from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def parse_optional_utc(text: str | None, *, option: str) -> dt.datetime | None:
    return None if text is None else parse_utc(text, option=option)


def parse_day(text: str | None, *, option: str) -> dt.date | None:
    """A calendar day, YYYY-MM-DD."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option} {text!r}: not a date; use YYYY-MM-DD") from None
