"""Azure VM inventory against a local Compute List All stub (tests/stubs/azure_compute_stub.py,
HAND-MADE VMs in the documented shape), through the real ``ComputeManagementClient`` and the
azure-core pipeline (bearer token, RetryPolicy, nextLink pager), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.azure_inventory import AzureInventoryCollector, subscription_ids
from collectors.base import run_collector
from collectors.cloud_clients import compute_management_client
from collectors.registry import build_collector, configured_names
from spendwatch.config import AzureSettings, Settings
from tests.stubs.azure_compute_stub import AzureComputeStub, gpu_fleet
from tests.stubs.azure_token import StaticToken
from warehouse.errors import InputError
from warehouse.runs import last_runs
from warehouse.schema import resources

MIB = 1024**2
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
SUB = "00000000-0000-0000-0000-000000000001"
SUB2 = "00000000-0000-0000-0000-000000000002"


def vm_id(group: str, name: str, subscription: str = SUB) -> str:
    return (
        f"/subscriptions/{subscription}/resourcegroups/{group}/providers/"
        f"microsoft.compute/virtualmachines/{name}"
    ).lower()


@pytest.fixture
def stub() -> Iterator[AzureComputeStub]:
    server = AzureComputeStub(page_size=2)
    server.serve(SUB, gpu_fleet(SUB))
    yield server
    server.close()


def _collector(
    stub: AzureComputeStub, *subscriptions: str, retry_total: int = 3, token: str | None = None
) -> AzureInventoryCollector:
    settings = Settings(azure=AzureSettings(management_endpoint=stub.url))
    credential = StaticToken(token or stub.token)
    clients = {
        sub: compute_management_client(
            settings, sub, credential=credential, retry_total=retry_total, retry_backoff_factor=0.01
        )
        for sub in subscriptions or (SUB,)
    }
    return AzureInventoryCollector(clients, endpoint=stub.url)


def _rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(sa.select(resources)).mappings().all()
    return {row["resource_id"]: dict(row) for row in found}


def test_gpu_shape_lifecycle_tags_and_power_state(engine: Engine, stub: AzureComputeStub) -> None:
    outcome = run_collector(engine, _collector(stub), now=NOW)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.rows == 5
    rows = _rows(engine)
    nc6 = rows[vm_id("ml-rg", "nc6-train")]
    assert (nc6["instance_type"], nc6["gpu_count"], nc6["gpu_model"]) == (
        "Standard_NC6s_v3",
        1,
        "V100",
    )
    assert nc6["gpu_memory_bytes"] == 16384 * MIB
    assert (nc6["lifecycle"], nc6["owner"], nc6["team"], nc6["state"]) == (
        "on_demand",
        "bob",
        "nlp",
        "running",
    )
    assert (nc6["account_id"], nc6["region"], nc6["name"]) == (SUB, "eastus", "nc6-train")
    assert nc6["tags"] == {"team": "nlp", "owner": "bob"}
    # timeCreated 2026-02-01T10:00:00.1234567+00:00: ARM's 7th digit is dropped, not rounded
    assert nc6["launched_at"] == dt.datetime(2026, 2, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)

    h100 = rows[vm_id("ml-rg", "h100-spot")]
    assert (h100["gpu_count"], h100["gpu_model"], h100["gpu_memory_bytes"]) == (
        8,
        "H100",
        81920 * MIB,
    )
    assert (h100["lifecycle"], h100["team"], h100["state"]) == ("spot", "research", "running")
    assert h100["launched_at"] == dt.datetime(2026, 4, 5, 6, 7, 8, 900000, tzinfo=dt.UTC)

    a100 = rows[vm_id("ml-eu", "a100-eu")]
    assert (a100["gpu_count"], a100["gpu_model"], a100["region"]) == (1, "A100", "westeurope")
    assert a100["state"] == "stopped"  # deallocated: compute no longer billed

    web = rows[vm_id("web", "web-1")]
    assert (web["gpu_count"], web["gpu_model"], web["lifecycle"]) == (0, None, "on_demand")

    a10 = rows[vm_id("ml-rg", "a10-viz")]
    # An NV size the shipped table lacks: GPU count unknown, not zero.
    assert (a10["instance_type"], a10["gpu_count"], a10["gpu_model"]) == (
        "Standard_NV36ads_A10_v5",
        None,
        None,
    )
    assert a10["state"] == "stopped_allocated"  # Azure "stopped": still allocated and billed

    details = last_runs(engine)["azure_inventory"].details
    assert details is not None
    assert (details["vms"], details["gpu_vms"], details["without_power_state"]) == (5, 3, 0)
    assert details["unknown_gpu_sizes"] == ["Standard_NV36ads_A10_v5"]


def test_both_lists_are_paged_by_next_link(engine: Engine, stub: AzureComputeStub) -> None:
    run_collector(engine, _collector(stub), now=NOW)
    answered = [r for r in stub.requests if r.status == 200]
    # 5 VMs, 2 a page: 3 pages for the plain list, then 3 for statusOnly=true
    assert len(answered) == 6
    assert [r.query.get("$skiptoken") for r in answered] == [None, ["2"], ["4"]] * 2
    assert [r.query.get("statusOnly") for r in answered] == [None] * 3 + [["true"]] * 3
    assert all(r.query["api-version"] for r in answered)
    assert {r.path for r in answered} == {
        f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines"
    }
    assert {r.headers["authorization"] for r in answered} == {f"Bearer {stub.token}"}


def test_a_rerun_changes_nothing(engine: Engine, stub: AzureComputeStub) -> None:
    run_collector(engine, _collector(stub), now=NOW)
    first = _rows(engine)
    outcome = run_collector(engine, _collector(stub), now=NOW + dt.timedelta(hours=1))
    assert outcome.status == "succeeded"
    second = _rows(engine)
    drop = ("id", "updated_at")
    assert {k: {c: v for c, v in r.items() if c not in drop} for k, r in second.items()} == {
        k: {c: v for c, v in r.items() if c not in drop} for k, r in first.items()
    }


def test_429_with_retry_after_is_retried(engine: Engine, stub: AzureComputeStub) -> None:
    stub.fail_next("429")
    started = time.monotonic()
    outcome = run_collector(engine, _collector(stub), now=NOW)
    assert outcome.status == "succeeded", outcome.error
    assert time.monotonic() - started >= 1.0  # the stub's Retry-After: 1
    assert [r.status for r in stub.requests][:2] == [429, 200]
    assert len(_rows(engine)) == 5


def test_5xx_beyond_the_retries_fails_and_writes_nothing(
    engine: Engine, stub: AzureComputeStub
) -> None:
    stub.fail_next("500", "503")
    outcome = run_collector(engine, _collector(stub, retry_total=1), now=NOW)
    assert outcome.status == "failed"
    assert outcome.error == (
        f"azure_inventory ({SUB}): Azure Resource Manager answered HTTP 503; run again later"
    )
    assert _rows(engine) == {}


def test_401_fails_in_one_line(engine: Engine, stub: AzureComputeStub) -> None:
    outcome = run_collector(engine, _collector(stub, token="expired-token"), now=NOW)
    assert outcome.status == "failed"
    assert outcome.error == (
        f"azure_inventory ({SUB}): Azure refused the credentials (401, token expired or "
        "invalid); sign in again (az login, or refresh DefaultAzureCredential's identity)"
    )
    assert _rows(engine) == {}


def test_one_failing_subscription_fails_the_run_without_writing(
    engine: Engine, stub: AzureComputeStub
) -> None:
    # SUB2 is not served: 404 SubscriptionNotFound after SUB was read in full
    outcome = run_collector(engine, _collector(stub, SUB, SUB2), now=NOW)
    assert outcome.status == "failed"
    assert outcome.error == (
        f"azure_inventory ({SUB2}): Azure Resource Manager answered HTTP 404; check the "
        "subscription id in [azure] subscriptions"
    )
    assert _rows(engine) == {}
    stub.serve(SUB2, gpu_fleet(SUB2)[:1])
    retry = run_collector(engine, _collector(stub, SUB, SUB2), now=NOW + dt.timedelta(hours=1))
    assert retry.status == "succeeded" and retry.rows == 6
    assert vm_id("ml-rg", "nc6-train", SUB2) in _rows(engine)


def test_subscriptions_come_from_settings_or_scopes() -> None:
    assert subscription_ids(subscriptions=[f"/subscriptions/{SUB}", SUB2], scopes=[]) == [
        SUB,
        SUB2,
    ]
    scopes = [f"/subscriptions/{SUB}", "/providers/Microsoft.Billing/billingAccounts/1", SUB]
    assert subscription_ids(subscriptions=[], scopes=scopes) == [SUB]
    settings = Settings.model_validate({"azure": {"inventory": True}})
    assert "azure_inventory" in configured_names(settings)
    with pytest.raises(InputError, match=r"\[azure\] subscriptions"):
        build_collector("azure_inventory", settings)
    assert "azure_inventory" not in configured_names(Settings())
