"""The exception tree. Every error that reaches a person is one of these, and its message is one
line saying what happened, to which input, and what to do::

    SpendwatchError
    ├── InputError            bad file or argument; nothing was written
    │   └── IngestError       names the file, row and column
    ├── SourceError           a cloud API or exporter failed (down, throttled, unauthorized)
    ├── DeliveryError         a notification could not be delivered
    └── ConfigError           lives in spendwatch.config; bad settings

Lower-level errors (botocore, psycopg, pyarrow, slack_sdk) are translated at the boundary where
they happen, so callers never see a library's exception.
"""

from __future__ import annotations


class SpendwatchError(Exception):
    """Base class; ``str(error)`` is the one-line message shown to the user."""


class InputError(SpendwatchError):
    """The input (file, option, argument) is wrong. Nothing was written."""


class IngestError(InputError):
    """A billing file is malformed. The message names the file, the row and the column."""

    def __init__(
        self, path: str, message: str, *, row: int | None = None, column: str | None = None
    ):
        where = path
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.row = row
        self.column = column


class SourceError(SpendwatchError):
    """A data source failed; the message names the source and the window."""


class DeliveryError(SpendwatchError):
    """A notification could not be delivered."""
