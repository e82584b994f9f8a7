"""`spendwatch analyze` benchmark: every rule over a generated SQLite warehouse at fleet scale.

The warehouse is :mod:`bench.fleet_warehouse` (1× is 10,000 GPUs × 30 days of hourly rollups
plus 5 M billing rows). ``--quick`` runs 0.1×, 0.2× and 0.4×; the full run 1× by default, and
2× / 4× when asked for (``python -m bench.analyze --scales 1,2,4`` or
``SPENDWATCH_BENCH_ANALYZE_SCALES=1,2,4 make bench``): generating them takes minutes and GBs.
Each analysis runs in its own process (``--worker``) so its peak RSS is its own. There is no
outside baseline for "the same rules"; the baseline is the smallest size of the same run, and
the ratio shows whether time grows linearly with the data.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.fleet_warehouse import AS_OF, DATA_DIR, ensure_warehouse
from bench.memory import peak_rss_mb
from bench.workers import run_worker


def run(*, quick: bool) -> list[dict[str, Any]]:
    env = os.environ.get("SPENDWATCH_BENCH_ANALYZE_SCALES")
    scales = [0.1, 0.2, 0.4] if quick else [float(s) for s in env.split(",")] if env else [1.0]
    return measure(scales)


def measure(scales: list[float]) -> list[dict[str, Any]]:
    results = []
    for scale in scales:
        path = ensure_warehouse(scale)
        results.append((scale, _worker(path)))
    base_scale, base = results[0]
    records = []
    for scale, result in results:
        records.append(
            {
                "name": f"analyze_sqlite_{scale:g}x",
                "value": round(result["seconds"], 2),
                "unit": "s",
                "baseline": f"analyze_sqlite_{base_scale:g}x" if scale != base_scale else None,
                "baseline_value": round(base["seconds"], 2) if scale != base_scale else None,
                # Time ratio against data ratio: linear growth keeps these two equal.
                "ratio": round(result["seconds"] / base["seconds"], 2)
                if scale != base_scale
                else None,
                "data_ratio": round(scale / base_scale, 2),
                "rows": result["gpu_hourly_rows"] + result["billing_rows"],
                "gpu_hourly_rows": result["gpu_hourly_rows"],
                "billing_rows": result["billing_rows"],
                "gpus": result["gpus"],
                "findings": result["findings"],
                "peak_rss_mb": result["peak_rss_mb"],
                **_goal(scale, base_scale, result, base),
            }
        )
    return records


def _goal(
    scale: float, base_scale: float, result: dict[str, Any], base: dict[str, Any]
) -> dict[str, Any]:
    """The analytics issue's goals: at 1x under 30 s and 1 GB; bigger sizes grow linearly
    (time ratio within 20% of the data ratio)."""
    goals = []
    if scale == 1.0:
        goals.append({"goal": "under 30 s", "met": result["seconds"] < 30})
        goals.append({"goal": "peak RSS under 1 GB", "met": result["peak_rss_mb"] < 1024})
    if scale > base_scale:
        data_ratio = scale / base_scale
        met = result["seconds"] / base["seconds"] <= 1.2 * data_ratio
        goals.append({"goal": f"linear: time ratio at most 1.2 x {data_ratio:g}", "met": met})
    return {"goals": goals} if goals else {}


def _worker(path: Path) -> dict[str, Any]:
    result = run_worker("bench.analyze", str(path))
    print(
        f"  {path.name}: {result['by_kind']} in {result['seconds']:.2f} s, "
        f"peak {result['peak_rss_mb']} MB",
        flush=True,
    )
    return result


# --- the measured process -------------------------------------------------------------------
def _analyze(path: str) -> int:
    import sqlalchemy as sa

    from analytics.policies import IdleGpuPolicy
    from spendwatch.commands.analyze import RulePolicies, run_analysis
    from warehouse.db import make_engine
    from warehouse.schema import cost_line_items, findings, gpu_hourly, notification_outbox

    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:  # every run starts from no findings (not timed)
        connection.execute(notification_outbox.delete())
        connection.execute(findings.delete())
        gpu_rows = connection.scalar(sa.select(sa.func.count()).select_from(gpu_hourly))
        billing = connection.scalar(sa.select(sa.func.count()).select_from(cost_line_items))
        gpus = connection.scalar(sa.select(sa.func.count(sa.distinct(gpu_hourly.c.gpu_id))))
    started = time.perf_counter()
    result = run_analysis(engine, as_of=AS_OF, policy=IdleGpuPolicy(), policies=RulePolicies())
    seconds = time.perf_counter() - started
    engine.dispose()
    peak_mb = peak_rss_mb()
    kinds: dict[str, int] = {}
    for finding in result.findings:
        kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
    print(
        json.dumps(
            {
                "seconds": seconds,
                "findings": len(result.findings),
                "by_kind": kinds,
                "gpu_hourly_rows": gpu_rows,
                "billing_rows": billing,
                "gpus": gpus,
                "peak_rss_mb": round(peak_mb),
            }
        )
    )
    return 0


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help="analyze this SQLite file and print JSON")
    parser.add_argument("--scales", default="1", help="comma-separated sizes, e.g. 1,2,4")
    args = parser.parse_args()
    if args.worker:
        return _analyze(args.worker)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for record in measure([float(s) for s in args.scales.split(",")]):
        print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
