"""`make bench` (`python -m bench.run [--quick] [--only NAME]`): run the registered benchmarks,
write ``bench/results/latest.json`` and print the figures as a table.

A benchmark is a function ``run(*, quick: bool) -> list[record]``; add one to ``BENCHMARKS``.
Each record follows ARCHITECTURE.md "Benchmarks": name, value, unit, baseline, baseline_value,
ratio, rows, peak_rss_mb, machine, at; a record measured against an issue's goals also has
``goals``: a list of {"goal": words, "met": whether this run met it}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import analyze, dashboard, ingest, prometheus_collect

Benchmark = Callable[..., list[dict[str, Any]]]

BENCHMARKS: dict[str, Benchmark] = {
    "ingest": ingest.run,
    "prometheus_collect": prometheus_collect.run,
    "analyze": analyze.run,
    "dashboard": dashboard.run,
}
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="spendwatch benchmarks")
    parser.add_argument("--quick", action="store_true", help="a tenth of the size, one run")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), default=None)
    args = parser.parse_args(argv)
    at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    records: list[dict[str, Any]] = []
    for name in args.only or list(BENCHMARKS):
        print(f"benchmark {name} ({'quick' if args.quick else 'full size'})")
        for record in BENCHMARKS[name](quick=args.quick):
            records.append({**record, "machine": machine(), "at": at})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(records, indent=2) + "\n")
    _print(records)
    print(f"written to {RESULTS}")
    return 0


def _print(records: list[dict[str, Any]]) -> None:
    table = Table(title="spendwatch benchmarks")
    left = ("name", "baseline", "goal")
    for column in ("name", "value", "unit", "baseline", "ratio", "rows", "peak_rss_mb", "goal"):
        table.add_column(column, justify="left" if column in left else "right", overflow="fold")
    for record in records:
        table.add_row(
            record["name"],
            f"{record['value']:,}",
            record["unit"],
            f"{record['baseline'] or '-'}"
            + (f" ({record['baseline_value']:,})" if record["baseline_value"] else ""),
            "-" if record["ratio"] is None else f"{record['ratio']}x",
            f"{record['rows']:,}",
            str(record["peak_rss_mb"]),
            _goal(record),
        )
    Console(width=200).print(table)


def _goal(record: dict[str, Any]) -> str:
    goals = record.get("goals") or []
    return "; ".join(f"{'met' if g['met'] else 'MISSED'}: {g['goal']}" for g in goals) or "-"


if __name__ == "__main__":
    raise SystemExit(main())
