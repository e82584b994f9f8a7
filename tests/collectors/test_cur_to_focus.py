"""CUR 2.0 and legacy CUR -> FOCUS batches: the real legacy sample, and a small hand-made CUR 2.0
Parquet file (no public CUR 2.0 sample exists; its columns are the snake_case names of
focus_converters' conversion_rules_aws.csv)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from collectors.cur_to_focus import CurFile, column_key, service_categories
from warehouse.errors import IngestError

LEGACY = "aws/cur-legacy-sample/sample-anonymous-aws-export-dataset.csv"
PAYER = "111122223333"
MEMBER = "444455556666"
SP_ARN = "arn:aws:savingsplans::111122223333:savingsplan/sp-0001"
RI_ARN = "arn:aws:ec2:us-east-1:111122223333:reserved-instances/ri-0001"
INSTANCE = "arn:aws:ec2:us-east-1:444455556666:instance/i-0abc"


def _sum(table: pa.Table, column: str) -> Decimal:
    return sum((Decimal(v) for v in table[column].to_pylist() if v is not None), Decimal(0))


def _read(path: Path | str) -> pa.Table:
    return pa.Table.from_batches(list(CurFile(str(path))))


def handmade_cur2(path: Path, *, usage_cost: str = "2.5000000000", period: str = "2026-10") -> Path:
    """Six hand-made CUR 2.0 lines, one of each kind the EffectiveCost rule treats differently."""
    year, month = (int(part) for part in period.split("-"))
    start = dt.datetime(year, month, 1)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1)
    hour = start + dt.timedelta(days=2, hours=5)
    kinds = [
        # (type, product, unblended, net, sp eff., ri eff., unused upfront, unused recurring)
        ("Usage", "AmazonEC2", usage_cost, None, None, None, None, None),
        ("SavingsPlanCoveredUsage", "AmazonEC2", "1.00", None, "0.60", None, None, None),
        ("SavingsPlanNegation", "AmazonEC2", "-1.00", None, None, None, None, None),
        ("DiscountedUsage", "AmazonSageMaker", "0", None, None, "0.75", None, None),
        ("RIFee", "AmazonEC2", "3.00", None, None, None, "0.40", "0.35"),
        ("Tax", "AmazonS3", "0.20", "0.18", None, None, None, None),
    ]
    rows = len(kinds)
    columns: dict[str, Any] = {
        "bill_payer_account_id": [PAYER] * rows,
        "bill_billing_period_start_date": pa.array([start] * rows, pa.timestamp("ms")),
        "bill_billing_period_end_date": pa.array([end] * rows, pa.timestamp("ms")),
        "bill_bill_type": ["Anniversary"] * rows,
        "bill_invoicing_entity": ["Amazon Web Services, Inc."] * rows,
        "line_item_usage_account_id": [MEMBER] * rows,
        "line_item_line_item_type": [k[0] for k in kinds],
        "line_item_product_code": [k[1] for k in kinds],
        "line_item_usage_start_date": pa.array([hour] * rows, pa.timestamp("ms")),
        "line_item_usage_end_date": pa.array(
            [hour + dt.timedelta(hours=1)] * rows, pa.timestamp("ms")
        ),
        "line_item_unblended_cost": pa.array([Decimal(k[2]) for k in kinds], pa.decimal128(20, 10)),
        "line_item_net_unblended_cost": pa.array(
            [None if k[3] is None else Decimal(k[3]) for k in kinds], pa.decimal128(20, 10)
        ),
        "line_item_usage_amount": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        "line_item_currency_code": ["USD"] * rows,
        "line_item_resource_id": [INSTANCE, INSTANCE, INSTANCE, None, None, None],
        "line_item_usage_type": ["BoxUsage:g5.xlarge"] * rows,
        "savings_plan_savings_plan_arn": [None, SP_ARN, SP_ARN, None, None, None],
        "savings_plan_savings_plan_effective_cost": [k[4] for k in kinds],
        "reservation_reservation_arn": [None, None, None, RI_ARN, RI_ARN, None],
        "reservation_effective_cost": [k[5] for k in kinds],
        "reservation_unused_amortized_upfront_fee_for_billing_period": [k[6] for k in kinds],
        "reservation_unused_recurring_fee": [k[7] for k in kinds],
        "pricing_public_on_demand_cost": ["2.50", "1.20", None, "0.90", None, None],
        "product_region_code": ["us-east-1"] * rows,
        "resource_tags": pa.array(
            [[("user_team", "nlp")], None, None, None, None, None],
            pa.map_(pa.string(), pa.string()),
        ),
    }
    pq.write_table(pa.table(columns), path)
    return path


def test_legacy_cur_sample_sums_and_mapping(shared_data: Path) -> None:
    table = _read(shared_data / LEGACY)
    assert table.num_rows == 1281
    assert _sum(table, "billed_cost") == Decimal("1.68230869740")
    # No savings plans or reservations in the sample: EffectiveCost is the unblended cost.
    assert _sum(table, "effective_cost") == Decimal("1.68230869740")
    assert _sum(table, "list_cost") == Decimal("3.35617269490")  # pricing/publicOnDemandCost
    assert Counter(table["charge_category"].to_pylist()) == {"Usage": 1269, "Tax": 12}
    services = Counter(
        zip(table["service_name"].to_pylist(), table["service_category"].to_pylist(), strict=True)
    )
    assert services[("Amazon Simple Storage Service", "Storage")] == 799
    assert set(table["billing_period_start"].to_pylist()) == {
        dt.datetime(2023, 11, 1, tzinfo=dt.UTC)
    }
    assert set(table["provider_name"].to_pylist()) == {"AWS"}
    assert table["resource_id"].null_count == 1281  # the sample has no lineItem/ResourceId
    extra = json.loads(table["x_extra"][0].as_py())
    assert extra == {"x_ServiceCode": "AWSCloudTrail", "x_LineItemType": "Tax"}


def test_handmade_cur2_parquet_applies_the_conversion_rules(tmp_path: Path) -> None:
    table = _read(handmade_cur2(tmp_path / "cur2.parquet"))
    rows = table.to_pylist()
    by_kind = {json.loads(row["x_extra"])["x_LineItemType"]: row for row in rows}
    effective = {kind: Decimal(row["effective_cost"]) for kind, row in by_kind.items()}
    assert effective == {
        "Usage": Decimal("2.5"),  # ELSE: unblended
        "SavingsPlanCoveredUsage": Decimal("0.60"),  # the plan's effective cost
        "SavingsPlanNegation": Decimal(0),
        "DiscountedUsage": Decimal("0.75"),  # the reservation's effective cost
        "RIFee": Decimal("0.75"),  # unused upfront 0.40 + unused recurring 0.35
        "Tax": Decimal("0.20"),
    }
    # BilledCost: the net unblended cost where there is one (the tax line), else unblended.
    assert Decimal(by_kind["Tax"]["billed_cost"]) == Decimal("0.18")
    assert _sum(table, "billed_cost") == Decimal("2.5") + 1 - 1 + 0 + 3 + Decimal("0.18")
    assert {kind: row["charge_category"] for kind, row in by_kind.items()} == {
        "Usage": "Usage",
        "SavingsPlanCoveredUsage": "Usage",
        "SavingsPlanNegation": "Usage",
        "DiscountedUsage": "Usage",
        "RIFee": "Purchase",
        "Tax": "Tax",
    }
    covered = by_kind["SavingsPlanCoveredUsage"]
    assert (covered["commitment_discount_id"], covered["commitment_discount_type"]) == (
        SP_ARN,
        "Savings Plan",
    )
    assert by_kind["RIFee"]["commitment_discount_category"] == "Usage"
    assert by_kind["Usage"]["commitment_discount_id"] is None
    usage = by_kind["Usage"]
    assert (usage["resource_type"], usage["resource_name"]) == ("instance", "i-0abc")
    assert json.loads(usage["tags"]) == {"user_team": "nlp"}
    assert usage["service_category"] == "Compute"
    assert by_kind["DiscountedUsage"]["service_category"] == "AI and Machine Learning"
    assert (usage["billing_account_id"], usage["sub_account_id"]) == (PAYER, MEMBER)
    assert usage["charge_period_start"] == dt.datetime(2026, 10, 3, 5, tzinfo=dt.UTC)
    assert usage["billing_period_end"] == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    # ListCost: publicOnDemandCost where present; nothing to multiply where it is absent.
    assert _sum(table, "list_cost") == Decimal("4.60")


def test_both_cur_flavours_share_one_key_per_column() -> None:
    assert column_key("lineItem/UnblendedCost") == column_key("line_item_unblended_cost")
    assert column_key("savingsPlan/SavingsPlanARN") == column_key("savings_plan_savings_plan_arn")
    assert service_categories()["AmazonEC2"] == "Compute"


def test_a_cur_file_without_its_cost_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text(
        "bill/PayerAccountId,lineItem/UsageStartDate,bill/BillingPeriodStartDate\n1,x,y\n"
    )
    with pytest.raises(IngestError, match=r"broken\.csv, column line_item_unblended_cost"):
        _read(path)


def test_a_bad_cost_cell_names_the_cur_column_and_row(tmp_path: Path, shared_data: Path) -> None:
    with (shared_data / LEGACY).open(newline="") as handle:
        lines = list(csv.reader(handle))[:4]
    column = lines[0].index("lineItem/UnblendedCost")
    lines[3][column] = "abc"
    path = tmp_path / "bad.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(lines)
    with pytest.raises(IngestError, match=r"bad\.csv, row 3, column lineItem/UnblendedCost"):
        _read(path)
