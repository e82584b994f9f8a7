"""A command imports only what it needs: the CLI loads each command's module on first use."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pandas", "boto3", "streamlit", "apscheduler", "analytics", "reports", "alerts")

_PROBE = """
import json, sys
from spendwatch.cli import run
try:
    run({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}})))
"""


def _top_level_modules(argv: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_ingest_focus_loads_no_pandas_cloud_sdk_or_dashboard() -> None:
    loaded = _top_level_modules(["ingest", "focus", "--help"])
    assert "collectors" in loaded  # the probe did reach the command's module
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_analyze_loads_the_analytics_it_runs() -> None:
    loaded = _top_level_modules(["analyze", "--help"])
    assert {"analytics", "pandas"} <= loaded
