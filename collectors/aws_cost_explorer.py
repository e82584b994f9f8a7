"""AWS Cost Explorer into the FOCUS warehouse, for accounts that have no billing export.

``get_cost_and_usage`` at DAILY granularity, metrics UnblendedCost (-> BilledCost), AmortizedCost
(-> EffectiveCost) and UsageQuantity, grouped by SERVICE and LINKED_ACCOUNT, pages followed by
``NextPageToken``. With ``resources`` on, ``get_cost_and_usage_with_resources`` (AWS keeps only
the last 14 days of it) splits EC2 compute per instance: those rows replace the service-level EC2
row of the same account and day, so nothing is counted twice.

Every request costs USD 0.01, so a run reads only ``watermark - lookback`` (3 days by default) to
today, counts its requests and stores the count in the run details. The rows of a window replace
this source's earlier rows for the same billing account and days, in one transaction
(``DayWindowReplace``). Today is still moving: the watermark stops at its start, and the lookback
re-reads it next time.

Exports win: an (account, month) that an AWS export already loaded is not loaded from Cost
Explorer, by linked account or by billing account; and an export load later replaces any Cost
Explorer rows of its (billing account, month). The billing account of these rows is the account
whose credentials call Cost Explorer (STS GetCallerIdentity), normally the management account.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import Engine

from collectors.aws_clients import aws_client, explain
from collectors.aws_exports import LOAD_SOURCE as EXPORT_SOURCE
from collectors.base import CollectResult
from warehouse.errors import SourceError
from warehouse.load import DayWindowReplace, load_focus_batches
from warehouse.schema import cost_line_items

if TYPE_CHECKING:
    from spendwatch.config import Settings

SOURCE = "aws_cost_explorer"
LOAD_SOURCE = "aws-cost-explorer"
PRICE_PER_REQUEST = Decimal("0.01")
METRICS = ("AmortizedCost", "UnblendedCost", "UsageQuantity")
EC2_COMPUTE = "Amazon Elastic Compute Cloud - Compute"
RESOURCE_DAYS = 14  # how far back AWS keeps resource-level Cost Explorer data
_TIME = pa.timestamp("us", tz="UTC")
_STRING_COLUMNS = (
    "billing_account_id",
    "sub_account_id",
    "billing_currency",
    "provider_name",
    "service_name",
    "charge_category",
    "charge_frequency",
    "consumed_unit",
    "resource_id",
    "x_extra",
)


def day_floor(moment: dt.datetime) -> dt.datetime:
    moment = moment.astimezone(dt.UTC)
    return dt.datetime(moment.year, moment.month, moment.day, tzinfo=dt.UTC)


def day_ceil(moment: dt.datetime) -> dt.datetime:
    floor = day_floor(moment)
    return floor if floor == moment else floor + dt.timedelta(days=1)


def _month(day: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


class CostExplorerReader:
    """Paged Cost Explorer reads that count every request (each one is billed)."""

    def __init__(self, ce: Any) -> None:
        self.ce = ce
        self.requests = 0

    def pages(self, operation: str, request: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            body = {**request, **({"NextPageToken": token} if token else {})}
            self.requests += 1
            page: dict[str, Any] = getattr(self.ce, operation)(**body)
            yield page
            token = page.get("NextPageToken")
            if not token:
                return

    def daily(
        self, start: dt.datetime, end: dt.datetime, *, group_by: list[str], **extra: Any
    ) -> Iterator[tuple[dt.datetime, list[str], Mapping[str, Any], bool]]:
        """(day, group keys, metrics, estimated) for every group of every day."""
        operation = (
            "get_cost_and_usage_with_resources"
            if "RESOURCE_ID" in group_by
            else ("get_cost_and_usage")
        )
        request = {
            "TimePeriod": {"Start": start.date().isoformat(), "End": end.date().isoformat()},
            "Granularity": "DAILY",
            "Metrics": list(METRICS),
            "GroupBy": [{"Type": "DIMENSION", "Key": key} for key in group_by],
            **extra,
        }
        for page in self.pages(operation, request):
            for result in page.get("ResultsByTime", []):
                day = dt.datetime.fromisoformat(result["TimePeriod"]["Start"]).replace(
                    tzinfo=dt.UTC
                )
                for group in result.get("Groups", []):
                    yield day, list(group["Keys"]), group["Metrics"], bool(result.get("Estimated"))


def _row(
    *,
    billing_account: str,
    account: str,
    service: str,
    day: dt.datetime,
    metrics: Mapping[str, Any],
    estimated: bool,
    resource_id: str | None = None,
) -> dict[str, Any]:
    unblended = metrics.get("UnblendedCost") or {}
    amortized = metrics.get("AmortizedCost") or {}
    usage = metrics.get("UsageQuantity") or {}
    unit = usage.get("Unit")
    month_start, month_end = _month(day)
    return {
        "billed_cost": str(Decimal(unblended.get("Amount", "0"))),
        "effective_cost": str(Decimal(amortized.get("Amount", "0"))),
        "consumed_quantity": usage.get("Amount"),
        "consumed_unit": unit if unit and unit != "N/A" else None,
        "billing_period_start": month_start,
        "billing_period_end": month_end,
        "charge_period_start": day,
        "charge_period_end": day + dt.timedelta(days=1),
        "billing_account_id": billing_account,
        "sub_account_id": account,
        "billing_currency": unblended.get("Unit") or "USD",
        "provider_name": "AWS",
        "service_name": service,
        # Cost Explorer's SERVICE dimension shows tax as a service of its own.
        "charge_category": "Tax" if service == "Tax" else "Usage",
        "charge_frequency": "Usage-Based",
        "resource_id": resource_id,
        "x_extra": '{"x_Estimated":"true"}' if estimated else None,
    }


def to_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """Rows as the normalized batch ``load_focus_batches`` takes (money as decimal text)."""
    columns: dict[str, pa.Array] = {}
    for name in ("billed_cost", "effective_cost", "consumed_quantity", *_STRING_COLUMNS):
        columns[name] = pa.array([row[name] for row in rows], pa.string())
    for name in (
        "billing_period_start",
        "billing_period_end",
        "charge_period_start",
        "charge_period_end",
    ):
        columns[name] = pa.array([row[name] for row in rows], _TIME)
    return pa.RecordBatch.from_pydict(columns)


def export_covered(
    engine: Engine, *, start: dt.datetime, end: dt.datetime
) -> tuple[set[tuple[str, dt.datetime]], set[tuple[str, dt.datetime]]]:
    """(linked account, month) and (billing account, month) pairs AWS exports already loaded."""
    table = cost_line_items
    query = (
        sa.select(table.c.sub_account_id, table.c.billing_account_id, table.c.billing_period_start)
        .where(
            table.c.x_source == EXPORT_SOURCE,
            table.c.billing_period_start >= _month(start)[0],
            table.c.billing_period_start < end,
        )
        .distinct()
    )
    linked: set[tuple[str, dt.datetime]] = set()
    billing: set[tuple[str, dt.datetime]] = set()
    with engine.connect() as connection:
        for sub_account, billing_account, period in connection.execute(query):
            if sub_account:
                linked.add((sub_account, period))
            if billing_account:
                billing.add((billing_account, period))
    return linked, billing


class AwsCostExplorerCollector:
    """``spendwatch collect aws_cost_explorer``: daily cost per service and linked account."""

    name = SOURCE
    loads = "cost_line_items"
    natural_key: tuple[str, ...] = ("billing_account_id", "charge_period_start")

    def __init__(
        self,
        ce: Any,
        sts: Any,
        *,
        lookback: dt.timedelta = dt.timedelta(days=3),
        initial_window: dt.timedelta = dt.timedelta(days=31),
        resources: bool = False,
    ) -> None:
        self.ce = ce
        self.sts = sts
        self.lookback = lookback
        self.initial_window = initial_window
        self.resources = resources

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsCostExplorerCollector:
        aws = settings.aws
        mode, attempts = aws.retry_mode, aws.max_attempts
        # Cost Explorer's endpoint lives in us-east-1 whatever the account's region.
        return cls(
            aws_client("ce", region="us-east-1", retry_mode=mode, max_attempts=attempts),
            aws_client("sts", region=aws.region, retry_mode=mode, max_attempts=attempts),
            lookback=dt.timedelta(days=aws.cost_explorer_lookback_days),
            initial_window=dt.timedelta(days=aws.cost_explorer_initial_days),
            resources=aws.cost_explorer_resources,
        )

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        start, end = day_floor(since), day_ceil(until)
        reader = CostExplorerReader(self.ce)
        window = f"{start.date()} .. {end.date()}"
        try:
            billing_account = str(self.sts.get_caller_identity()["Account"])
            rows = self._fetch(
                reader, billing_account, start=start, end=end, today=day_floor(until)
            )
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(
                f"{SOURCE} ({window}): {explain(exc)} after {reader.requests} billed request(s)"
            ) from None
        linked, billing = export_covered(engine, start=start, end=end)
        kept = [
            row
            for row in rows
            if (row["sub_account_id"], row["billing_period_start"]) not in linked
            and (row["billing_account_id"], row["billing_period_start"]) not in billing
        ]
        skipped = sorted(
            {row["sub_account_id"] for row in rows} - {r["sub_account_id"] for r in kept}
        )
        details = {
            "ce_requests": reader.requests,
            "ce_cost_usd": str(PRICE_PER_REQUEST * reader.requests),
            "window": window,
            "billing_account_id": billing_account,
            "accounts_left_to_exports": skipped,
        }
        batches = [to_batch(kept)] if kept else []
        result = load_focus_batches(
            engine,
            batches,
            source=LOAD_SOURCE,
            details=details,
            replace_days=DayWindowReplace(billing_account, start, end),
        )
        details["replaced_rows"] = result.replaced_rows
        return CollectResult(
            rows=result.rows, watermark=min(day_floor(until), end), details=details
        )

    def _fetch(
        self,
        reader: CostExplorerReader,
        billing_account: str,
        *,
        start: dt.datetime,
        end: dt.datetime,
        today: dt.datetime,
    ) -> list[dict[str, Any]]:
        rows: dict[tuple[dt.datetime, str, str], dict[str, Any]] = {}
        for day, (service, account), metrics, estimated in reader.daily(
            start, end, group_by=["SERVICE", "LINKED_ACCOUNT"]
        ):
            rows[(day, account, service)] = _row(
                billing_account=billing_account,
                account=account,
                service=service,
                day=day,
                metrics=metrics,
                estimated=estimated,
            )
        resource_rows: list[dict[str, Any]] = []
        resource_start = max(start, today - dt.timedelta(days=RESOURCE_DAYS - 1))
        if self.resources and resource_start < end:
            for day, (account, resource), metrics, estimated in reader.daily(
                resource_start,
                end,
                group_by=["LINKED_ACCOUNT", "RESOURCE_ID"],
                Filter={"Dimensions": {"Key": "SERVICE", "Values": [EC2_COMPUTE]}},
            ):
                rows.pop((day, account, EC2_COMPUTE), None)  # replaced by its resources
                resource_rows.append(
                    _row(
                        billing_account=billing_account,
                        account=account,
                        service=EC2_COMPUTE,
                        day=day,
                        metrics=metrics,
                        estimated=estimated,
                        resource_id=None if resource == "NoResourceId" else resource,
                    )
                )
        return [*rows.values(), *resource_rows]
