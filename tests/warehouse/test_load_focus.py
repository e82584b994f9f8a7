"""FOCUS deliveries into the warehouse on SQLite and PostgreSQL: exact sums from the real samples,
idempotent re-runs, restatement, atomic failures, CSV.gz / Parquet / s3:// sources."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.focus_files import FocusFile, FocusOptions
from warehouse.errors import IngestError
from warehouse.load import load_focus_batches
from warehouse.schema import collector_runs, cost_daily, cost_line_items
from warehouse.types import decimal_sum

T = cost_line_items

# Rows per spec example file, counted by hand from the files (blank trailing lines excluded).
SPEC_EXAMPLE_ROWS = {
    "commitment_discount_purchase_scenario_1.csv": 1,
    "commitment_discount_purchase_scenario_2.csv": 3,
    "commitment_discount_purchase_scenario_3.csv": 4,
    "commitment_discount_usage_scenario_1.csv": 1,
    "commitment_discount_usage_scenario_2.csv": 1,
    "commitment_discount_usage_scenario_3.csv": 2,
    "commitment_discount_usage_scenario_4.csv": 2,
    "one_hundred_percent_utilization_with_commitment_discount_flexibility_with_1_resource.csv": 3,
    "one_hundred_percent_utilization_with_commitment_discount_flexibility_with_2_resources.csv": 3,
    "one_hundred_percent_utilization_without_commitment_discount_flexibility.csv": 2,
    "saas_spend_agreements_a1.csv": 4,
    "saas_spend_agreements_a2.csv": 13,
    "saas_spend_agreements_b1.csv": 5,
    "saas_spend_agreements_b2.csv": 14,
    "simple_saas_agreements_a1.csv": 1,
    "simple_saas_agreements_a2.csv": 1,
    "simple_saas_agreements_a3.csv": 1,
    "simple_saas_agreements_b.csv": 1,
    "simple_saas_agreements_c.csv": 3,
    "virtual_currency_pricing_model_a1.csv": 1,
    "virtual_currency_pricing_model_a2.csv": 3,
    "virtual_currency_pricing_model_b1.csv": 1,
    "virtual_currency_pricing_model_b2.csv": 3,
    "virtual_currency_pricing_model_b3.csv": 3,
    "virtual_currency_pricing_model_c.csv": 2,
    "zero_percent_utilization_without_commitment_discount_flexibility.csv": 3,
}


def ingest(engine: Engine, *paths: Path | str, **options: Any) -> Any:
    files = [FocusFile(str(p), options=FocusOptions(**options)) for p in paths]
    return load_focus_batches(engine, (batch for f in files for batch in f))


def totals(engine: Engine, *where: Any) -> tuple[Decimal, Decimal, Decimal, int]:
    query = sa.select(
        decimal_sum(T.c.billed_cost),
        decimal_sum(T.c.effective_cost),
        decimal_sum(T.c.list_cost),
        sa.func.count(),
    ).where(*where)
    with engine.connect() as connection:
        billed, effective, listed, count = connection.execute(query).one()
    return billed, effective, listed, count


@pytest.fixture
def sample(shared_data: Path) -> Path:
    return shared_data / "focus" / "sample-data" / "focus_sample.csv"


def test_sample_sums_are_exact(engine: Engine, sample: Path) -> None:
    result = ingest(engine, sample)
    assert result.rows == 1000
    assert totals(engine) == (
        Decimal("20.52022672899"),
        Decimal("14.97651418586"),
        Decimal("20.39090575119"),
        1000,
    )
    with engine.connect() as connection:
        by_provider: dict[str, Decimal] = dict(
            connection.execute(
                sa.select(T.c.provider_name, decimal_sum(T.c.billed_cost)).group_by(
                    T.c.provider_name
                )
            ).all()
        )
        billed = connection.execute(sa.select(T.c.billed_cost)).scalars().all()
        run = connection.execute(sa.select(collector_runs)).one()
    assert by_provider == {
        "AWS": Decimal("18.00663861840"),
        "Microsoft": Decimal("1.97651418586"),
        "Oracle": Decimal("0.53707392473"),
    }
    assert (
        sum(1 for cost in billed if cost < 0) == 13
    )  # credits and adjustments are kept as they are
    assert (run.source, run.status, run.rows, run.error) == ("focus-file", "succeeded", 1000, None)


def test_every_spec_example_ingests_with_its_rows_and_sums(
    engine: Engine, shared_data: Path
) -> None:
    folder = shared_data / "focus" / "spec-v1.2-examples"
    assert sorted(p.name for p in folder.glob("*.csv")) == sorted(SPEC_EXAMPLE_ROWS)
    sums = {}
    for name, rows in SPEC_EXAMPLE_ROWS.items():
        result = ingest(engine, folder / name)
        billed, effective, _, count = totals(engine, T.c.x_load_id == result.load_id)
        assert (result.rows, count) == (rows, rows), name
        sums[name] = (billed, effective)
    assert sums["commitment_discount_purchase_scenario_1.csv"] == (Decimal("8760.00"), Decimal(0))
    assert sums["commitment_discount_usage_scenario_4.csv"] == (Decimal("0.50"), Decimal("1.50"))
    draft = shared_data / "focus" / "spec-working-draft" / "per_token_foundation_model_api.csv"
    result = ingest(engine, draft)
    assert totals(engine, T.c.x_load_id == result.load_id)[0] == Decimal("94.50")


def test_ingesting_twice_changes_no_totals(engine: Engine, sample: Path) -> None:
    ingest(engine, sample)
    first = totals(engine)
    second = ingest(engine, sample)
    assert second.replaced_rows == 1000
    assert totals(engine) == first


def test_corrected_redelivery_replaces_that_month_for_that_account_only(
    engine: Engine, tmp_path: Path
) -> None:
    header = "BillingAccountId,BillingPeriodStart,ChargePeriodStart,BilledCost\n"
    (tmp_path / "a.csv").write_text(
        header + "A,2024-09-01,2024-09-02,10.00\nA,2024-09-01,2024-09-03,5.00\n"
        "A,2024-10-01,2024-10-02,7.00\nB,2024-09-01,2024-09-02,3.00\n"
    )
    ingest(engine, tmp_path / "a.csv")
    assert totals(engine)[0] == Decimal("25.00")
    # The provider restates September for account A: one corrected line replaces both.
    (tmp_path / "a-sep-v2.csv").write_text(header + "A,2024-09-01,2024-09-02,12.50\n")
    result = ingest(engine, tmp_path / "a-sep-v2.csv")
    assert result.replaced_rows == 2
    with engine.connect() as connection:
        per_key = connection.execute(
            sa.select(T.c.billing_account_id, T.c.billed_cost).order_by(
                T.c.billing_account_id, T.c.billing_period_start
            )
        ).all()
    assert [(a, c) for a, c in per_key] == [
        ("A", Decimal("12.50")),  # September, restated
        ("A", Decimal("7.00")),  # October untouched
        ("B", Decimal("3.00")),  # other account untouched
    ]


BAD_FILES = {
    "missing_column.csv": (
        "BilledCost,ChargePeriodStart\n1,2024-09-01\n",
        "column BillingPeriodStart",
    ),
    "bad_number.csv": (
        "BilledCost,BillingPeriodStart,ChargePeriodStart\n1,2024-09-01,2024-09-01\n"
        "one,2024-09-01,2024-09-01\n",
        "row 2, column BilledCost",
    ),
    "bad_date.csv": (
        "BilledCost,BillingPeriodStart,ChargePeriodStart\n1,2024-09-31,2024-09-01\n",
        "row 1, column BillingPeriodStart",
    ),
    "bad_currency.csv": (
        "BilledCost,BillingPeriodStart,ChargePeriodStart,BillingCurrency\n"
        "1,2024-09-01,2024-09-01,USD\n1,2024-09-01,2024-09-01,DOLLARS\n",
        "row 2, column BillingCurrency",
    ),
    "bad_tags.csv": (
        "BilledCost,BillingPeriodStart,ChargePeriodStart,Tags\n"
        '1,2024-09-01,2024-09-01,"{""team"": ""nlp""}"\n1,2024-09-01,2024-09-01,"{team: nlp}"\n',
        "row 2, column Tags",
    ),
}


@pytest.mark.parametrize("name", [*BAD_FILES, "truncated.csv.gz"])
def test_bad_input_names_the_cell_and_leaves_the_warehouse_unchanged(
    engine: Engine, sample: Path, tmp_path: Path, name: str
) -> None:
    ingest(engine, sample)
    before = totals(engine)
    path = tmp_path / name
    if name == "truncated.csv.gz":
        packed = gzip.compress(sample.read_bytes())
        path.write_bytes(packed[: len(packed) * 2 // 3])
        expected = "the gzip stream is truncated"
    else:
        body, expected = BAD_FILES[name]
        path.write_text(body)
    # The good sample goes first in the same delivery: its rows must not survive either.
    with pytest.raises(IngestError) as caught:
        ingest(engine, sample, path)
    message = str(caught.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message
    assert totals(engine) == before
    with engine.connect() as connection:
        failed = connection.execute(
            sa.select(collector_runs.c.status, collector_runs.c.error).where(
                collector_runs.c.status == "failed"
            )
        ).one()
    assert failed.error == message


def test_csv_gz_and_parquet_round_trip(engine: Engine, sample: Path, tmp_path: Path) -> None:
    gz = tmp_path / "focus_sample.csv.gz"
    with sample.open("rb") as source, gzip.open(gz, "wb") as target:
        shutil.copyfileobj(source, target)
    ingest(engine, gz)
    expected = totals(engine)
    assert expected[:3] == (
        Decimal("20.52022672899"),
        Decimal("14.97651418586"),
        Decimal("20.39090575119"),
    )
    # Parquet as an exporter writes it: typed columns (doubles, timestamps), not text.
    typed = pa_csv.read_csv(
        sample,
        convert_options=pa_csv.ConvertOptions(
            column_types={"BillingAccountId": "string", "SubAccountId": "string"}
        ),
    )
    parquet = tmp_path / "focus_sample.parquet"
    pq.write_table(typed, parquet, row_group_size=300)
    result = ingest(engine, parquet)
    assert result.replaced_rows == 1000
    assert totals(engine) == expected


def test_s3_location_through_boto3_and_aws_endpoint_url(
    engine: Engine, sample: Path, aws_env: str
) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="billing")
    s3.put_object(
        Bucket="billing", Key="focus/2024-09/part-0.csv.gz", Body=gzip.compress(sample.read_bytes())
    )
    location = "s3://billing/focus/2024-09/part-0.csv.gz"
    result = load_focus_batches(engine, FocusFile(location, s3_client=s3))
    assert result.rows == 1000
    assert totals(engine)[0] == Decimal("20.52022672899")
    with pytest.raises(IngestError, match=r"s3://billing/nope\.csv: no such S3 object"):
        load_focus_batches(engine, FocusFile("s3://billing/nope.csv", s3_client=s3))


def test_values_shared_by_every_row_and_long_batches_round_trip(
    engine: Engine, tmp_path: Path
) -> None:
    """The SQLite writer puts a value shared by every row of a batch into the SQL text and
    binds the rest in slices: quotes must survive, and no row may be lost at a slice edge."""
    rows = 9000  # more than one executemany slice (8192 rows)
    issuer = "O'Reilly ''Cloud'' Ltd'; DROP TABLE cost_line_items; --"
    lines = ["BilledCost,BillingPeriodStart,ChargePeriodStart,InvoiceIssuerName,ResourceId"]
    lines += [
        f"0.01,2024-09-01T00:00:00Z,2024-09-{1 + i % 30:02d}T{i % 24:02d}:00:00Z,"
        f'"{issuer}",i-{i % 7}'
        for i in range(rows)
    ]
    path = tmp_path / "shared_values.csv"
    path.write_text("\n".join(lines) + "\n")
    result = ingest(engine, path)
    # 9000 x 0.01, added exactly
    assert (result.rows, totals(engine)[0], totals(engine)[3]) == (rows, Decimal("90.00"), rows)
    with engine.connect() as connection:
        issuers = connection.execute(sa.select(T.c.invoice_issuer_name).distinct()).all()
        # 9000 rows over 30 days x 24 hours: row i lands on day 1 + i % 30, hour i % 24;
        # day 1 at 00:00 takes i = 0, 120, 240, ... (i % 30 == 0 and i % 24 == 0) -> 75 rows
        midnight = connection.scalar(
            sa.select(sa.func.count()).where(
                T.c.charge_period_start == dt.datetime(2024, 9, 1, tzinfo=dt.UTC)
            )
        )
    assert issuers == [(issuer,)]
    assert midnight == 75


def test_files_with_different_columns_load_as_one_delivery(
    engine: Engine, sample: Path, tmp_path: Path
) -> None:
    """On PostgreSQL the batches stream through one COPY, restarted when the columns change."""
    small = tmp_path / "three_columns.csv"
    small.write_text(
        "BilledCost,BillingPeriodStart,ChargePeriodStart\n"
        "1.25,2024-09-01T00:00:00Z,2024-09-02T00:00:00Z\n"
        "2.50,2024-09-01T00:00:00Z,2024-09-03T00:00:00Z\n"
    )
    result = ingest(engine, sample, small, sample)
    # The sample's BilledCost: AWS 18.00663861840 + Microsoft 1.97651418586 + Oracle
    # 0.53707392473 = 20.52022672899; the sample twice in one delivery is 2000 rows.
    assert result.rows == 2002
    billed, _, _, count = totals(engine)
    assert (billed, count) == (Decimal("20.52022672899") * 2 + Decimal("3.75"), 2002)


def test_a_pair_seen_again_later_in_the_delivery_keeps_all_its_rows(
    engine: Engine, tmp_path: Path
) -> None:
    """Older rows of a pair are deleted when the pair first shows up, so its rows that come
    later in the same delivery (after another pair's delete) must all stay."""
    header = "BillingAccountId,BillingPeriodStart,ChargePeriodStart,BilledCost\n"
    (tmp_path / "v1.csv").write_text(
        header + "A,2024-09-01,2024-09-02,10.00\nA,2024-09-01,2024-09-03,5.00\n"
        "B,2024-09-01,2024-09-02,3.00\n"
    )
    ingest(engine, tmp_path / "v1.csv")
    (tmp_path / "v2-a.csv").write_text(header + "A,2024-09-01,2024-09-02,12.50\n")
    (tmp_path / "v2-b.csv").write_text(
        header + "B,2024-09-01,2024-09-02,4.00\nA,2024-09-01,2024-09-04,1.00\n"
    )
    result = ingest(engine, tmp_path / "v2-a.csv", tmp_path / "v2-b.csv")
    assert (result.rows, result.replaced_rows) == (3, 3)  # 2 old rows of A, 1 of B
    with engine.connect() as connection:
        per_account = connection.execute(
            sa.select(T.c.billing_account_id, sa.func.count(), decimal_sum(T.c.billed_cost))
            .group_by(T.c.billing_account_id)
            .order_by(T.c.billing_account_id)
        ).all()
    assert [tuple(row) for row in per_account] == [
        ("A", 2, Decimal("13.50")),  # 12.50 from the first file, 1.00 from the second
        ("B", 1, Decimal("4.00")),
    ]


def test_times_are_stored_as_utc_whatever_the_session_time_zone(
    db_url: str, tmp_path: Path
) -> None:
    """PostgreSQL reads a COPY'd time without a zone in the session's TimeZone: the writer
    must send the zone, or a server set to India would shift every charge by 5:30."""
    from warehouse.db import make_engine

    shifted = make_engine(db_url)
    if shifted.dialect.name == "postgresql":

        @sa.event.listens_for(shifted, "connect")
        def _india(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("SET TIME ZONE 'Asia/Kolkata'")
            dbapi_connection.commit()

    (tmp_path / "one.csv").write_text(
        "BilledCost,BillingPeriodStart,ChargePeriodStart,ChargePeriodEnd\n"
        "2.00,2024-09-01T00:00:00Z,2024-09-01T23:30:00Z,2024-09-02T00:30:00Z\n"
    )
    ingest(shifted, tmp_path / "one.csv")
    shifted.dispose()
    utc = make_engine(db_url)
    with utc.connect() as connection:
        start, end = connection.execute(
            sa.select(T.c.charge_period_start, T.c.charge_period_end)
        ).one()
        days = connection.execute(sa.select(cost_daily.c.day)).scalars().all()
    utc.dispose()
    assert start == dt.datetime(2024, 9, 1, 23, 30, tzinfo=dt.UTC)
    assert end == dt.datetime(2024, 9, 2, 0, 30, tzinfo=dt.UTC)
    assert days == [dt.datetime(2024, 9, 1, tzinfo=dt.UTC)]
