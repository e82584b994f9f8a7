"""The demo: its generated fleet, its prices (checked against the public samples), the build
through the real ingest/load/analyze paths, and `spendwatch dashboard` refusing to go public."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from spendwatch import demo_fleet
from spendwatch.demo import DEMO_AS_OF, build_demo
from warehouse.db import make_engine
from warehouse.schema import cost_line_items, findings, gpu_hourly, resources
from warehouse.types import decimal_sum


def test_fleet_is_deterministic_and_has_every_pattern_and_provider() -> None:
    fleet = demo_fleet.generate_fleet(seed=7, host_count=30)
    assert fleet == demo_fleet.generate_fleet(seed=7, host_count=30)
    assert fleet != demo_fleet.generate_fleet(seed=8, host_count=30)
    assert 20 <= len(fleet) <= 40
    assert set(Counter(host.pattern for host in fleet)) == {"busy", "idle", "nightly", "underused"}
    assert {host.shape.provider for host in fleet} == {"aws", "gcp", "azure"}
    assert all(
        host.shape.gpu_count == 8 or host.shape.gpu_count == 4
        for host in fleet
        if host.pattern == "underused"
    )
    assert len({host.resource_id for host in fleet}) == len(fleet)


def test_nightly_host_works_only_from_one_to_five_and_underused_uses_two_gpus() -> None:
    fleet = demo_fleet.generate_fleet(seed=7, host_count=4)  # idle, nightly, underused, busy
    rows = list(demo_fleet.gpu_hourly_rows(fleet, as_of=DEMO_AS_OF, days=2))
    nightly = [r for r in rows if r["resource_id"] == fleet[1].resource_id]
    assert {r["hour"].hour for r in nightly if r["util_avg"] > 0} == {1, 2, 3, 4}
    underused = [r for r in rows if r["resource_id"] == fleet[2].resource_id]
    assert {r["gpu_id"] for r in underused if r["util_avg"] > 0} == {"0", "1"}
    assert len({r["gpu_id"] for r in underused}) == fleet[2].shape.gpu_count
    assert min(r["hour"] for r in rows) == dt.datetime(2024, 9, 29, tzinfo=dt.UTC)
    assert max(r["hour"] for r in rows) == dt.datetime(2024, 9, 30, 23, tzinfo=dt.UTC)


def test_real_prices_match_the_public_samples(shared_data: Path) -> None:
    with (shared_data / "aws/ondemand-prices/derived_ondemand_us-east-1.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    aws = {row["instance_type"]: Decimal(row["ondemand_usd_per_hour"]) for row in rows}
    gcp_text = (shared_data / "gcp/pricing/pricing.yml").read_text()
    for shape in demo_fleet.SHAPES:
        if shape.provider == "aws":
            assert aws[shape.instance_type] == shape.hourly_price, shape.instance_type
        elif shape.provider == "gcp":
            # compute > instance > <type> > cost > us-central1 > hour
            section = gcp_text[gcp_text.index(f"\n    {shape.instance_type}:\n") :]
            region = section[section.index("        us-central1:\n") :]
            hour = region.split("hour:", 1)[1].split()[0]
            assert Decimal(hour) == shape.hourly_price, shape.instance_type
        else:
            assert shape.price_source.startswith("illustrative")


def test_build_demo_loads_everything_through_the_real_paths(
    tmp_path: Path, shared_data: Path
) -> None:
    data_dir = tmp_path / "demo"
    summary = build_demo(data_dir, shared_data=shared_data, host_count=4, days=2, seed=7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # nothing outside its folder
    fleet = demo_fleet.generate_fleet(seed=7, host_count=4)
    assert summary.sample_rows == 1000
    assert summary.fleet_billing_rows == 4 * 48
    assert summary.gpu_hourly_rows == sum(h.shape.gpu_count for h in fleet) * 48

    engine = make_engine(summary.database_url)
    with engine.connect() as connection:
        total = connection.scalar(sa.select(decimal_sum(cost_line_items.c.billed_cost)))
        hosts = connection.scalar(sa.select(sa.func.count()).select_from(resources))
        hours = connection.scalar(sa.select(sa.func.count()).select_from(gpu_hourly))
        idle = connection.scalars(
            sa.select(findings.c.resource_id).where(findings.c.kind == "idle_gpu")
        ).all()
    engine.dispose()
    fleet_bill = sum((h.shape.hourly_price * 48 for h in fleet), Decimal(0))
    # the README's exact sum of the FOCUS sample, plus each host's price for 48 hours
    assert total == Decimal("20.52022672899") + fleet_bill
    assert hosts == 4
    assert hours == summary.gpu_hourly_rows
    assert fleet[0].pattern == "idle" and fleet[0].idle_since_hours >= 24
    assert fleet[0].resource_id in idle
    assert fleet[1].resource_id not in idle  # the nightly batch host is not idle


def test_dashboard_refuses_a_public_address_without_auth() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "spendwatch"), "dashboard", "--address", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: refusing to serve the dashboard on 0.0.0.0 without authentication; set "
        '[dashboard] auth = "proxy-header" (with allowed_users) or "oidc", or bind 127.0.0.1'
    ]
