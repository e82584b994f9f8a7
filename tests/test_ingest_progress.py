"""`spendwatch ingest focus` shows a bar per file on a terminal, and nothing elsewhere."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from spendwatch.commands.ingest import ingest_focus_files
from spendwatch.config import Settings


def _ingest(db_url: str, paths: list[Path], console: Console) -> int:
    settings = Settings(database={"url": db_url})  # type: ignore[arg-type]
    summary = ingest_focus_files(settings, [str(p) for p in paths], console=console)
    return summary.rows


def test_a_terminal_sees_each_file_read_to_the_end(db_url: str, shared_data: Path) -> None:
    sample = shared_data / "focus" / "sample-data" / "focus_sample.csv"
    example = shared_data / "focus" / "spec-v1.2-examples" / "saas_spend_agreements_b2.csv"
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    assert _ingest(db_url, [sample, example], console) == 1014  # 1,000 + 14 rows
    # rich redraws the bars in place; the last frame is what stays on the screen
    last_frame = screen.getvalue().rsplit("\x1b[2K", 1)[-1]
    lines = [line.split() for line in last_frame.splitlines() if "━" in line]
    assert all(re.fullmatch(r"\d+:\d\d:\d\d", words[-1]) for words in lines)  # elapsed time
    bar = "━" * 40
    assert [" ".join(words[:-1]) for words in lines] == [
        f"reading focus_sample.csv {bar} 100% 1,000 rows",
        f"reading saas_spend_agreements_b2.csv {bar} 100% 14 rows",
        f"rolling up, committing {bar} 100% done",
    ]


def test_no_terminal_no_progress_output(db_url: str, shared_data: Path) -> None:
    sample = shared_data / "focus" / "sample-data" / "focus_sample.csv"
    screen = io.StringIO()
    assert _ingest(db_url, [sample], Console(file=screen)) == 1000
    assert screen.getvalue() == ""
