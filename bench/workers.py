"""Each measurement runs in its own process, so the time and peak RSS it reports are its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def run_worker(module: str, *args: str) -> dict[str, Any]:
    """``python -m MODULE --worker ARGS...``; its last stdout line is the JSON result."""
    command = [sys.executable, "-m", module, "--worker", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"{module} worker {args} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
