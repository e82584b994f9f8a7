"""`spendwatch analyze` then `spendwatch alert`: a daily spend spike reaches Slack exactly once.

Hand-made billing (tests/analytics/test_spend_anomaly.py's rows): Amazon EC2 in AWS account
111122223333 costs 100 and 120 on alternating days from 08-31 to 09-29, then 300 on 09-30.
As of 2024-10-01 00:00 the rule judges 09-28..09-30, each against the 28 days before it. For
09-30 that is 09-02..09-29: 14 days at 100 and 14 at 120, so the median is 110, every day is
10 away from it (MAD 10), the excess is 300 - 110 = 190 and the robust z 190 / (1.4826 x 10)
= 12.815. 09-28 and 09-29 are ordinary (z <= 1 against the same kind of baseline).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Engine

from spendwatch.cli import run
from tests.alerts.conftest import outbox_rows
from tests.alerts.slack_stub import SlackStub
from tests.analytics.gpu_tables import load
from tests.analytics.test_spend_anomaly import alternating

AS_OF = dt.datetime(2024, 10, 1, tzinfo=dt.UTC)


def _spendwatch(*args: str, at: dt.datetime) -> None:
    with pytest.raises(SystemExit) as done:
        run([*args, "--as-of", at.isoformat()])
    assert done.value.code in (0, None)


@pytest.mark.usefixtures("env")
def test_a_spend_spike_is_analyzed_queued_and_posted_once(
    engine: Engine, stub: SlackStub, capsys: pytest.CaptureFixture[str]
) -> None:
    load(engine, billing=alternating("Amazon EC2", "100", "120", last="300"))

    _spendwatch("analyze", at=AS_OF)
    assert "1 spend_anomaly finding(s); 1 opened" in capsys.readouterr().out
    [queued] = outbox_rows(engine)
    assert (queued["event"], queued["status"], queued["channel"]) == (
        "opened",
        "pending",
        "#finops",
    )

    _spendwatch("alert", at=AS_OF)
    assert capsys.readouterr().out.strip() == (
        "posted 1 Slack messages for 1 notifications; failed 0, skipped 0, deferred 0"
    )
    [post] = stub.posts()
    assert post.body["channel"] == "#finops"
    assert post.body["text"] == (
        "Spend anomaly: Amazon EC2 (AWS account 111122223333) cost $300.00 on 2024-09-30, "
        "$190.00 above its usual $110.00/day (robust z 12.8). "
        f"http://localhost:8501/findings?id={queued['finding_id']}"
    )
    fields = [field["text"] for field in post.body["blocks"][1]["fields"]]
    assert "*Excess*\n+$190.00 · robust z 12.8" in fields

    # The next runs still see 09-30 (until it leaves the 3-day window, on 10-04): nothing new,
    # and when it leaves, no "resolved" reply either. Slack heard about this day once.
    for days in (1, 2, 3):
        _spendwatch("analyze", at=AS_OF + dt.timedelta(days=days))
        _spendwatch("alert", at=AS_OF + dt.timedelta(days=days))
    assert "1 resolved" in capsys.readouterr().out
    assert len(stub.posts()) == 1
    assert [(row["event"], row["status"]) for row in outbox_rows(engine)] == [("opened", "sent")]
