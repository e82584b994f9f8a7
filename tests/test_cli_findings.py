"""`spendwatch analyze`, `findings` and `savings` end to end on a hand-made warehouse.

Runs the real entry point in-process against the ``db_url`` warehouse (SQLite and PostgreSQL).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.analytics.gpu_tables import AS_OF, gpu_rows, hours_before, load, resource, usage_line
from tests.cli_run import cli, isolate_settings
from warehouse.db import make_engine
from warehouse.schema import notification_outbox

REQUIRED = {
    "id",
    "kind",
    "resource_id",
    "provider",
    "account_id",
    "owner",
    "status",
    "confidence",
    "monthly_savings",
    "currency",
    "first_seen",
    "last_seen",
    "recommendation",
    "evidence",
}


@pytest.fixture
def warehouse(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    isolate_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("SPENDWATCH_DATABASE__URL", db_url)
    monkeypatch.setenv("COLUMNS", "250")
    engine = make_engine(db_url)
    yesterday = dt.datetime(2024, 9, 29, tzinfo=dt.UTC)
    days = [dt.datetime(2024, 9, d, tzinfo=dt.UTC) for d in range(24, 31)]
    load(
        engine,
        gpu=gpu_rows("i-idle", hours_before(AS_OF, 24), gpus=4),
        # 7 x 60.00 over 168 h = 2.50/h -> 730 x 2.50 = 1825.00 a month.
        billing=[usage_line("i-idle", day, cost="60.00") for day in days]
        + [usage_line("i-blind", yesterday, cost="527.00")],
        inventory=[
            resource("i-idle", gpu_count=4, gpu_model="NVIDIA L4", owner="alice"),
            resource("i-blind", gpu_count=8, gpu_model="A100", owner="bob"),
        ],
    )
    engine.dispose()
    return db_url


def test_analyze_then_list_act_and_total(
    warehouse: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "analyze", "--as-of", "2024-09-30T12:00:00Z")
    assert code == 0
    assert out.strip() == (
        "analyzed as of 2024-09-30T12:00:00Z: 1 idle_gpu, 1 unmonitored_gpu finding(s); 2 opened"
    )
    # Same hour (12:40 truncates to 12:00): nothing changes.
    code, out, _ = cli(capsys, "analyze", "--as-of", "2024-09-30 12:40")
    assert (code, out.strip().rsplit("; ", 1)[-1]) == (0, "no changes")

    code, out, _ = cli(capsys, "findings", "--format", "json")
    listed = json.loads(out)
    assert code == 0 and [f["kind"] for f in listed] == ["idle_gpu", "unmonitored_gpu"]
    idle, blind = listed
    assert set(idle) >= REQUIRED
    assert idle["monthly_savings"] == "1825.00" and idle["currency"] == "USD"
    assert (idle["resource_id"], idle["owner"], idle["status"]) == ("i-idle", "alice", "open")
    assert idle["first_seen"] == idle["last_seen"] == "2024-09-30T12:00:00Z"
    assert idle["evidence"]["hourly_cost"] == "2.500000"
    assert idle["evidence"]["gpu_count"] == 4
    assert (blind["monthly_savings"], blind["owner"]) == ("0", "bob")

    # The alerts hook ran inside analyze's transaction: the idle finding has a queued message.
    engine = make_engine(warehouse)
    with engine.connect() as connection:
        queued = connection.scalars(sa.select(notification_outbox.c.finding_id)).all()
    engine.dispose()
    assert idle["id"] in queued

    code, out, _ = cli(capsys, "findings", "snooze", str(idle["id"]), "--until", "2099-01-01")
    assert (
        out.strip()
        == f"finding {idle['id']} (idle_gpu i-idle) is snoozed until 2099-01-01T00:00:00Z"
    )
    code, out, _ = cli(capsys, "findings", "dismiss", str(blind["id"]), "--reason", "lab rig")
    assert (code, out.strip().endswith("is dismissed")) == (0, True)

    code, out, _ = cli(capsys, "findings", "--status", "snoozed", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert [(r["resource_id"], r["snoozed_until"]) for r in table] == [
        ("i-idle", "2099-01-01T00:00:00Z")
    ]

    code, out, _ = cli(capsys, "savings", "--format", "json")
    totals = {(t["group"], t["key"]): t for t in json.loads(out)}
    # Snoozed still counts as potential; the dismissed unmonitored finding does not.
    assert totals["total", "all"]["monthly_savings"] == "1825.00"
    assert totals["kind", "idle_gpu"]["monthly_savings"] == "1825.00"
    assert totals["owner", "alice"]["monthly_savings"] == "1825.00"
    assert ("owner", "bob") not in totals

    code, out, _ = cli(capsys, "findings")
    assert code == 0 and "i-idle" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("findings", "--kind", "idle"),
            "error: unknown finding kind 'idle'; use one of: idle_gpu",
        ),
        (("analyze", "--as-of", "yesterday"), "error: --as-of 'yesterday' is not a date"),
        (("findings", "reopen", "41"), "error: finding 41 does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    warehouse: str, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = cli(capsys, *args)
    assert code == 1 and out == ""
    assert err.startswith(message) and err.count("\n") == 1
