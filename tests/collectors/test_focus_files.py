"""Reading FOCUS files: column names, quirks and one-line errors, without a database."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest

from collectors.focus_columns import map_header, snake_case
from collectors.focus_files import FocusFile, FocusOptions
from warehouse.errors import IngestError

UTC = dt.UTC


def read_all(path: Path, **options: object) -> pa.Table:
    return pa.Table.from_batches(list(FocusFile(str(path), options=FocusOptions(**options))))  # type: ignore[arg-type]


def write(path: Path, text: str, *, bom: bool = False, crlf: bool = False) -> Path:
    if crlf:
        text = text.replace("\n", "\r\n")
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


MINIMAL = "BilledCost,BillingPeriodStart,ChargePeriodStart\n"


def test_snake_case_matches_the_warehouse_names() -> None:
    assert snake_case("SkuPriceId") == "sku_price_id"
    assert snake_case("PricingCurrencyEffectiveCost") == "pricing_currency_effective_cost"


def test_header_is_case_insensitive_and_sorts_x_and_unknown_columns() -> None:
    header = map_header(
        ["billedcost", "SkuPriceid", "BILLINGPERIODSTART", "ChargePeriodStart", "x_Thing", "Id"],
        path="f.csv",
    )
    assert header.focus == {
        "billed_cost": 0,
        "sku_price_id": 1,
        "billing_period_start": 2,
        "charge_period_start": 3,
    }
    assert header.extra == {"x_Thing": 4}
    assert header.ignored == ["Id"]


def test_pre_1_0_names_map_only_when_the_1_2_name_is_absent() -> None:
    header = map_header(
        ["BilledCost", "BillingPeriodStart", "ChargePeriodStart", "UsageQuantity", "Provider"],
        path="f.csv",
    )
    assert header.focus["consumed_quantity"] == 3
    assert header.focus["provider_name"] == 4


def test_quirks_bom_crlf_nulls_timestamps_and_mdy_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path / "quirks.csv",
        "BilledCost,BillingPeriodStart,ChargePeriodStart,ChargePeriodEnd,Tags,ResourceId,x_Note\n"
        '-1.50,2024-09-01 00:00:00,2024-09-18T22:00:00Z,5/1/25,"{""team"": ""nlp""}",NULL,hi "x"\n'
        "0.25,2024-09-01,2024-09-18T23:00:00+02:00,12/31/2025,null,,\n",
        bom=True,
        crlf=True,
    )
    table = read_all(path, default_currency="eur", provider_hint="Acme")
    rows = table.to_pylist()
    assert [r["billed_cost"] for r in rows] == ["-1.50", "0.25"]  # credits keep their sign
    assert rows[0]["billing_period_start"] == dt.datetime(2024, 9, 1, tzinfo=UTC)
    assert rows[0]["charge_period_start"] == dt.datetime(2024, 9, 18, 22, tzinfo=UTC)
    assert rows[1]["charge_period_start"] == dt.datetime(2024, 9, 18, 21, tzinfo=UTC)
    assert rows[0]["charge_period_end"] == dt.datetime(2025, 5, 1, tzinfo=UTC)
    assert rows[1]["charge_period_end"] == dt.datetime(2025, 12, 31, tzinfo=UTC)
    assert json.loads(rows[0]["tags"]) == {"team": "nlp"}
    assert rows[1]["tags"] is None
    assert rows[0]["resource_id"] is None and rows[1]["resource_id"] is None
    assert json.loads(rows[0]["x_extra"]) == {"x_Note": 'hi "x"'}
    assert rows[1]["x_extra"] is None
    assert {r["billing_currency"] for r in rows} == {"EUR"}
    assert {r["provider_name"] for r in rows} == {"Acme"}


def test_money_with_currency_sign_and_thousands_as_in_the_spec_saas_examples(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "saas.csv", MINIMAL + '"$10,000.00 ",4/1/25,4/1/25\n')
    assert read_all(path).column("billed_cost").to_pylist() == ["10000.00"]


def test_hour_past_24_rolls_into_the_next_day_as_the_spec_example_writes_it(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "late.csv",
        MINIMAL.strip() + ",ChargePeriodEnd\n1,2023-01-01T00:00:00Z,2023-01-01T20:00:00Z,"
        "2023-02-01T30:00:00Z\n",
    )
    end = read_all(path).column("charge_period_end").to_pylist()[0]
    assert end == dt.datetime(2023, 2, 2, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("1,2024-09-01,2024-09-01\n1.2.3,2024-09-01,2024-09-01\n", "row 2, column BilledCost"),
        ("1,2024-09-01,2024-09-01\n1,2024-09-01,2024-13-45\n", "row 2, column ChargePeriodStart"),
        ("1,2024-09-01,yesterday\n", "row 1, column ChargePeriodStart"),
        (",2024-09-01,2024-09-01\n", "row 1, column BilledCost"),
    ],
)
def test_bad_cells_name_file_row_and_column(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path / "bad.csv", MINIMAL + body)
    with pytest.raises(IngestError) as caught:
        read_all(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, {expected}: ")
    assert "\n" not in message


def test_bad_currency_and_bad_tags_name_the_cell(tmp_path: Path) -> None:
    currency = write(
        tmp_path / "cur.csv", MINIMAL.strip() + ",BillingCurrency\n1,2024-09-01,2024-09-01,XYZ\n"
    )
    with pytest.raises(IngestError, match=r"row 1, column BillingCurrency: 'XYZ' is not an ISO"):
        read_all(currency)
    tags = write(
        tmp_path / "tags.csv",
        MINIMAL.strip() + ',Tags\n1,2024-09-01,2024-09-01,"{""a"": 1}"\n'
        '1,2024-09-01,2024-09-01,"[1, 2]"\n',
    )
    with pytest.raises(IngestError, match=r"row 2, column Tags: .* not an object"):
        read_all(tags)


def test_missing_required_column_and_truncated_gzip(tmp_path: Path) -> None:
    missing = write(tmp_path / "missing.csv", "BilledCost,ChargePeriodStart\n1,2024-09-01\n")
    with pytest.raises(IngestError, match=r"column BillingPeriodStart: required column"):
        read_all(missing)
    body = (MINIMAL + "1.00,2024-09-01,2024-09-01\n" * 5000).encode()
    packed = gzip.compress(body)
    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(IngestError, match=r"cut\.csv\.gz, row 1: the gzip stream is truncated"):
        read_all(truncated)


def test_rows_are_counted_across_batches(tmp_path: Path) -> None:
    body = "".join(f"{i}.00,2024-09-01,2024-09-01\n" for i in range(3000))
    path = write(tmp_path / "many.csv", MINIMAL + body)
    file = FocusFile(str(path))
    batches = list(file)
    assert file.rows == 3000
    assert sum(b.num_rows for b in batches) == 3000


def test_x_columns_stay_aligned_when_a_row_has_none_of_them(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.csv",
        MINIMAL.strip() + ",x_A,x_B\n"
        "1,2024-09-01,2024-09-01,a,\n"
        "2,2024-09-01,2024-09-01,,\n"
        '3,2024-09-01,2024-09-01,"q,r",b\n',
    )
    extra = read_all(path).column("x_extra").to_pylist()
    assert [None if e is None else json.loads(e) for e in extra] == [
        {"x_A": "a"},
        None,
        {"x_A": "q,r", "x_B": "b"},
    ]
