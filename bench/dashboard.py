"""Dashboard benchmark: render every page with Streamlit's AppTest over the generated fleet
warehouse (``bench.fleet_warehouse.ensure_warehouse``: 0.1× with ``--quick``, 1× in a full
run), and report each page's render time, median of 3, with a cold cache (``st.cache_data``
and ``st.cache_resource`` cleared before each render) and a warm one (the same session's cache).

Baseline, measured in the same process on the same file: ``SELECT count(*) FROM
cost_line_items``, the cheapest question the warehouse answers. Goal: under 2 s per page.

The renders run in a worker process (``--worker``) so its peak RSS is the dashboard's own. The
warehouse is opened read-only in spirit: the dashboard never writes outside finding actions,
and the benchmark clicks none.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.fleet_warehouse import ensure_warehouse
from bench.memory import peak_rss_mb
from bench.workers import REPO, run_worker

PAGES = ["overview", "gpu_fleet", "storage", "savings", "findings", "data_health"]
RUNS = 3
GOAL_SECONDS = 2.0


def run(*, quick: bool) -> list[dict[str, Any]]:
    scale = 0.1 if quick else 1.0
    path = ensure_warehouse(scale)
    result = _worker(path)
    records = []
    for page in PAGES:
        for cache in ("cold", "warm"):
            seconds = result["pages"][page][cache]
            records.append(
                {
                    "name": f"dashboard_{page}_{cache}_{scale:g}x",
                    "value": round(seconds, 3),
                    "unit": "s",
                    "baseline": "select_count_cost_line_items",
                    "baseline_value": round(result["baseline_seconds"], 4),
                    "ratio": round(seconds / result["baseline_seconds"], 1),
                    "rows": result["line_items"],
                    "goal_seconds": GOAL_SECONDS,
                    "goals": [{"goal": f"under {GOAL_SECONDS:g} s", "met": seconds < GOAL_SECONDS}],
                    "peak_rss_mb": result["peak_rss_mb"],
                }
            )
    return records


def _worker(path: Path) -> dict[str, Any]:
    result = run_worker("bench.dashboard", str(path))
    for page, times in result["pages"].items():
        print(f"  {page}: cold {times['cold']:.2f} s, warm {times['warm']:.2f} s", flush=True)
    return result


def _render(page: str) -> float:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(REPO / "dashboard" / "pages" / f"{page}.py"), default_timeout=600)
    started = time.perf_counter()
    app.run()
    seconds = time.perf_counter() - started
    if app.exception or app.error:
        problems = [e.value for e in app.exception] + [e.value for e in app.error]
        raise SystemExit(f"{page} did not render cleanly: {problems}")
    return seconds


def _measure(path: str) -> int:
    import sqlalchemy as sa
    import streamlit as st

    url = f"sqlite:///{Path(path).resolve()}"
    os.environ["SPENDWATCH_DATABASE__URL"] = url
    from warehouse.db import make_engine

    engine = make_engine(url)
    baseline = []
    with engine.connect() as connection:
        for _ in range(RUNS):
            started = time.perf_counter()
            rows = connection.scalar(sa.text("SELECT count(*) FROM cost_line_items"))
            baseline.append(time.perf_counter() - started)
    engine.dispose()
    pages: dict[str, dict[str, float]] = {}
    for page in PAGES:
        cold = []
        for _ in range(RUNS):
            st.cache_data.clear()
            st.cache_resource.clear()
            cold.append(_render(page))
        warm = [_render(page) for _ in range(RUNS)]
        pages[page] = {"cold": statistics.median(cold), "warm": statistics.median(warm)}
    peak_mb = peak_rss_mb()
    print(
        json.dumps(
            {
                "pages": pages,
                "baseline_seconds": statistics.median(baseline),
                "line_items": rows,
                "peak_rss_mb": round(peak_mb),
            }
        )
    )
    return 0


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help="render every page over this SQLite file, print JSON")
    parser.add_argument("--quick", action="store_true", help="the 0.1x warehouse")
    args = parser.parse_args()
    if args.worker:
        return _measure(args.worker)
    for record in run(quick=args.quick):
        print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
