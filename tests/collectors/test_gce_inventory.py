"""Compute Engine inventory against a local aggregatedList stub (tests/stubs/gce_stub.py, HAND-MADE
instances in the documented shape), through the real HTTP client and google-auth credentials,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from google.oauth2.credentials import Credentials
from sqlalchemy.engine import Engine

from collectors.base import run_collector
from collectors.cloud_clients import RestJsonClient
from collectors.gce_inventory import GceInventoryCollector, lifecycle_of, region_of
from collectors.price_snapshot import load_snapshot
from collectors.registry import build_collector, configured_names
from spendwatch.config import Settings
from tests.stubs.gce_stub import GceStub, gpu_fleet
from warehouse.errors import InputError
from warehouse.queries.catalog import priced_gpu_resources
from warehouse.runs import last_runs
from warehouse.schema import resources

MIB = 1024**2
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
PROJECT = "ml-train"
TOKEN = "stub-gce-token"


def global_name(zone: str, instance_id: str) -> str:
    return f"//compute.googleapis.com/projects/{PROJECT}/zones/{zone}/instances/{instance_id}"


@pytest.fixture
def stub() -> Iterator[GceStub]:
    server = GceStub(token=TOKEN)
    server.instances[PROJECT] = gpu_fleet(PROJECT)
    yield server
    server.close()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _collector(
    stub: GceStub, *, page_size: int = 2, retries: int = 4, sleep: Any = None
) -> GceInventoryCollector:
    client = RestJsonClient(
        stub.url,
        name="Compute Engine API",
        credentials=Credentials(token=TOKEN),  # what ADC hands over: a bearer token
        retries=retries,
        sleep=sleep if sleep is not None else Sleeps(),
    )
    return GceInventoryCollector(client, projects=[PROJECT], page_size=page_size)


def _rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(sa.select(resources)).mappings().all()
    return {row["resource_id"]: dict(row) for row in found}


def test_gpus_lifecycle_labels_and_state_of_every_instance(engine: Engine, stub: GceStub) -> None:
    outcome = run_collector(engine, _collector(stub), now=NOW)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.rows == 5
    rows = _rows(engine)
    a100 = rows[global_name("us-central1-a", "4711")]
    assert (a100["instance_type"], a100["gpu_count"], a100["gpu_model"]) == (
        "a2-highgpu-1g",
        1,
        "A100",
    )
    assert a100["gpu_memory_bytes"] == 40960 * MIB
    assert (a100["lifecycle"], a100["owner"], a100["team"], a100["state"]) == (
        "on_demand",
        "alice",
        "nlp",
        "running",
    )
    assert (a100["account_id"], a100["region"], a100["name"]) == (
        PROJECT,
        "us-central1",
        "trainer-a100",
    )
    assert a100["tags"] == {"team": "nlp", "owner": "alice"}
    # 2026-03-02T01:02:03.456-08:00 is 09:02:03.456 UTC
    assert a100["launched_at"] == dt.datetime(2026, 3, 2, 9, 2, 3, 456000, tzinfo=dt.UTC)

    t4 = rows[global_name("us-east1-b", "4712")]
    # An N1 VM with two attached T4s: GPUs come from guestAccelerators, not the machine type.
    assert (t4["instance_type"], t4["gpu_count"], t4["gpu_model"]) == ("n1-standard-8", 2, "T4")
    assert t4["gpu_memory_bytes"] == 16384 * MIB
    assert (t4["lifecycle"], t4["team"], t4["owner"]) == ("spot", "vision", None)
    assert t4["launched_at"] == dt.datetime(2026, 5, 10, 16, 0, tzinfo=dt.UTC)

    l4 = rows[global_name("europe-west4-a", "4713")]
    # No guestAccelerators listed: g2-standard-4's built-in L4 comes from the snapshot shape.
    assert (l4["gpu_count"], l4["gpu_model"], l4["gpu_memory_bytes"]) == (1, "L4", 22888 * MIB)
    # preemptible (legacy spot); TERMINATED is GCE's word for stopped
    assert (l4["lifecycle"], l4["state"], l4["region"]) == ("spot", "stopped", "europe-west4")

    web = rows[global_name("us-central1-a", "4714")]
    assert (web["gpu_count"], web["gpu_model"], web["lifecycle"]) == (0, None, "on_demand")

    h100 = rows[global_name("us-central1-a", "4715")]
    assert (h100["gpu_count"], h100["gpu_model"], h100["lifecycle"]) == (8, "H100", "reserved")

    run = last_runs(engine)["gce_inventory"]
    assert run.details is not None
    assert run.details["instances"] == 5 and run.details["gpu_instances"] == 4


def test_pages_are_followed_with_the_bearer_token(engine: Engine, stub: GceStub) -> None:
    run_collector(engine, _collector(stub, page_size=2), now=NOW)
    pages = [r for r in stub.requests if r.status == 200]
    assert len(pages) == 3  # 5 instances, 2 a page
    assert [r.query.get("pageToken") for r in pages] == [None, ["2"], ["4"]]
    assert all(r.query["maxResults"] == ["2"] for r in pages)
    assert all(r.query["returnPartialSuccess"] == ["true"] for r in pages)
    assert {r.path for r in pages} == {f"/compute/v1/projects/{PROJECT}/aggregated/instances"}
    assert {r.headers["authorization"] for r in pages} == {f"Bearer {TOKEN}"}


def test_a_rerun_changes_nothing(engine: Engine, stub: GceStub) -> None:
    run_collector(engine, _collector(stub), now=NOW)
    first = _rows(engine)
    later = NOW + dt.timedelta(hours=1)
    outcome = run_collector(engine, _collector(stub), now=later)
    assert outcome.status == "succeeded"
    second = _rows(engine)
    assert second.keys() == first.keys()
    for key, row in second.items():
        assert {k: v for k, v in row.items() if k not in ("id", "updated_at")} == {
            k: v for k, v in first[key].items() if k not in ("id", "updated_at")
        }


def test_429_waits_for_retry_after_then_succeeds(engine: Engine, stub: GceStub) -> None:
    stub.retry_after = "7"
    stub.fail_next("429")
    sleeps = Sleeps()
    outcome = run_collector(engine, _collector(stub, sleep=sleeps), now=NOW)
    assert outcome.status == "succeeded", outcome.error
    assert sleeps == [7.0]
    assert len(_rows(engine)) == 5


def test_5xx_that_outlasts_the_retries_fails_the_run_and_writes_nothing(
    engine: Engine, stub: GceStub
) -> None:
    stub.fail_next("500", "503", "503")
    sleeps = Sleeps()
    outcome = run_collector(engine, _collector(stub, retries=2, sleep=sleeps), now=NOW)
    assert outcome.status == "failed"
    assert outcome.error == (
        f"gce_inventory ({PROJECT}): Compute Engine answered HTTP 503: Backend Error after 3 "
        "attempts; run again later"
    )
    assert sleeps == [1.0, 2.0]  # no Retry-After: exponential backoff
    assert _rows(engine) == {}


def test_a_failure_on_page_two_writes_nothing(engine: Engine, stub: GceStub) -> None:
    collector = _collector(stub, retries=0)
    pages = iter(range(10))

    # Let page 1 through, then fail: the stub's fault queue is consumed per request.
    original = stub.next_fault

    def fault() -> str | None:
        return "500" if next(pages) == 1 else original()

    stub.next_fault = fault  # type: ignore[method-assign]
    outcome = run_collector(engine, collector, now=NOW)
    assert outcome.status == "failed" and "HTTP 500" in (outcome.error or "")
    assert _rows(engine) == {}


def test_401_fails_in_one_line_saying_what_to_do(engine: Engine, stub: GceStub) -> None:
    stub.fail_next("401")
    outcome = run_collector(engine, _collector(stub), now=NOW)
    assert outcome.status == "failed"
    assert outcome.error is not None and "\n" not in outcome.error
    assert outcome.error.startswith(f"gce_inventory ({PROJECT}): Google refused the request")
    assert "roles/compute.viewer" in outcome.error and "HTTP 401" in outcome.error
    assert TOKEN not in outcome.error
    assert len([r for r in stub.requests if r.status == 401]) == 1  # 401 is not retried


def test_unknown_project_and_unreachable_zones(engine: Engine, stub: GceStub) -> None:
    stub.unreachables = ["zones/asia-east1-c"]
    outcome = run_collector(engine, _collector(stub), now=NOW)
    assert outcome.status == "succeeded"
    details = last_runs(engine)["gce_inventory"].details
    assert details is not None and details["unreachable_zones"] == ["zones/asia-east1-c"]

    client = RestJsonClient(stub.url, name="gce", credentials=Credentials(token=TOKEN))
    missing = GceInventoryCollector(client, projects=["nope"])
    failed = run_collector(engine, missing, now=NOW + dt.timedelta(hours=1))
    assert failed.error == (
        "gce_inventory (nope): HTTP 404 (The resource 'projects/nope' was not found); "
        "check the project id in [gcp] projects"
    )


def test_the_registered_collector_reads_its_settings(engine: Engine) -> None:
    stub = GceStub()  # a loopback endpoint gets anonymous credentials: no token expected
    stub.instances["p1"] = gpu_fleet("p1")[:2]
    stub.instances["p2"] = gpu_fleet("p2")[4:]
    try:
        settings = Settings.model_validate(
            {
                "gcp": {"inventory": True, "projects": ["p1", "p2"], "compute_endpoint": stub.url},
                "tags": {"owner": "owner", "team": "team"},
            }
        )
        assert "gce_inventory" in configured_names(settings)
        outcome = run_collector(engine, build_collector("gce_inventory", settings), now=NOW)
    finally:
        stub.close()
    assert outcome.status == "succeeded", outcome.error
    assert {row["account_id"] for row in _rows(engine).values()} == {"p1", "p2"}
    assert outcome.rows == 3


def test_settings_without_a_project_are_refused() -> None:
    settings = Settings.model_validate({"gcp": {"inventory": True}})
    with pytest.raises(InputError, match=r"\[gcp\] projects"):
        build_collector("gce_inventory", settings)
    assert "gce_inventory" not in configured_names(Settings())


def test_snapshot_prices_gpu_machine_types(engine: Engine, stub: GceStub) -> None:
    load_snapshot(engine)
    run_collector(engine, _collector(stub), now=NOW)
    priced = {r.instance_type: r for r in priced_gpu_resources(engine, provider="gcp")}
    a2 = priced["a2-highgpu-1g"]
    assert a2.on_demand is not None and a2.spot is not None
    # ../shared/data/README.md: us-central1 a2-highgpu-1g 3.673385/h (spot 1.92802)
    assert (a2.on_demand.price, a2.spot.price) == (Decimal("3.673385"), Decimal("1.92802"))
    assert a2.on_demand.source == "snapshot-gcp-2026-07-30"
    # An N1 VM with attached GPUs is priced as machine + GPUs; the snapshot has the machine type
    # but no per-GPU price, so it stays unpriced rather than getting a machine-only number.
    assert priced["n1-standard-8"].on_demand is None


def test_small_helpers() -> None:
    assert region_of("us-central1-a") == "us-central1"
    assert lifecycle_of({"scheduling": {"provisioningModel": "SPOT"}}) == "spot"
    assert lifecycle_of({"scheduling": {"preemptible": True}}) == "spot"
    assert lifecycle_of({"scheduling": {"provisioningModel": "STANDARD"}}) == "on_demand"
