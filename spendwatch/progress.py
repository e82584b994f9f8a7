"""Progress bars for long commands, on stderr and only when stderr is a terminal, so scripts
and logs see nothing but the result."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


def progress_bar(console: Console | None = None) -> Progress:
    """A bar per task; each task has a ``detail`` field (e.g. "12,345 rows")."""
    return _on_terminal(
        console,
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )


def _on_terminal(console: Console | None, *columns: ProgressColumn) -> Progress:
    console = console or Console(stderr=True)
    return Progress(*columns, console=console, disable=not console.is_terminal)


DONE_MARK = "✓"
FAILED_MARK = "✗"


class StepMarkColumn(SpinnerColumn):
    """A spinner while a step runs, then its ``mark`` field: a tick, or a cross for a step that
    ran but failed (a collector whose source was down)."""

    def render(self, task: Task) -> RenderableType:
        if task.finished:
            return Text(task.fields.get("mark", DONE_MARK))
        return super().render(task)


def step_list(console: Console | None = None) -> Progress:
    """A line per step of a long command: spinner or mark, name, ``detail``, time taken."""
    return _on_terminal(
        console,
        StepMarkColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )


class Step:
    """One running step; ``report`` sets the text shown after its name."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress, self._task = progress, task
        self.failed = False

    def report(self, detail: str, *, failed: bool = False) -> None:
        self.failed = failed
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, detail=detail)


class Steps:
    """Reports steps to a :func:`step_list`, or nowhere when built without one: the scheduler's
    jobs run the same code as the commands and must not draw."""

    def __init__(self, progress: Progress | None = None) -> None:
        self._progress = progress

    @contextmanager
    def step(self, description: str) -> Iterator[Step]:
        if self._progress is None:
            yield Step(None, None)
            return
        task = self._progress.add_task(description, total=1, detail="")
        step = Step(self._progress, task)
        try:
            yield step
        except BaseException:
            # Left unfinished, so the last frame shows where it stopped; the error says why.
            self._progress.update(task, detail="interrupted")
            raise
        mark = FAILED_MARK if step.failed else DONE_MARK
        self._progress.update(task, completed=1, mark=mark)


NO_STEPS = Steps()


def counted(number: int, noun: str) -> str:
    """ "1 finding", "1,204 rows": a step's detail."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
