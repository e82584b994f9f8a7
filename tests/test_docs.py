"""The README is the user's manual: every command and every settings section must be in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer.main

from spendwatch.cli import app
from spendwatch.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _command_paths(command: Any, prefix: str = "") -> list[str]:
    if hasattr(command, "list_commands"):  # a group, asked the way click asks (lazy loading)
        context = typer.Context(command)
        paths = []
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, name
            paths.extend(_command_paths(sub, f"{prefix} {name}".strip()))
        return paths
    return [prefix]


def test_every_cli_command_is_documented_in_the_readme() -> None:
    paths = _command_paths(typer.main.get_command(app))
    assert len(paths) >= 10
    missing = [path for path in paths if f"spendwatch {path}" not in README]
    assert not missing, f"README.md does not document: {', '.join(missing)}"


def test_every_settings_section_is_documented_in_the_readme() -> None:
    missing = [name for name in Settings.model_fields if f"[{name}" not in README]
    assert not missing, f"README.md has no [section] example for: {', '.join(missing)}"
