"""Running the real `spendwatch` entry point in-process, with settings from nowhere but the test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spendwatch.cli import run


def isolate_settings(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Work in ``directory`` (no stray spendwatch.toml) with no SPENDWATCH_* variables set."""
    monkeypatch.chdir(directory)
    for name in list(os.environ):
        if name.startswith("SPENDWATCH_"):
            monkeypatch.delenv(name)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``spendwatch *args``: its exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as done:
        run(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err
