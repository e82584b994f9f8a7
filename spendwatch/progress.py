"""Progress bars for long commands, on stderr and only when stderr is a terminal, so scripts
and logs see nothing but the result."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)


def progress_bar(console: Console | None = None) -> Progress:
    """A bar per task; each task has a ``detail`` field (e.g. "12,345 rows")."""
    console = console or Console(stderr=True)
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
