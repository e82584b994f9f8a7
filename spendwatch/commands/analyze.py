"""`spendwatch analyze`: run the rules over the warehouse and refresh the findings table."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable

import typer
from sqlalchemy.engine import Connection, Engine

from alerts.outbox import enqueue_for_changes
from analytics.findings import Finding, FindingChange
from analytics.idle_gpu import idle_gpu_findings, unmonitored_gpu_findings
from analytics.policies import HIGH_CONFIDENCE_SOURCES, IdleGpuPolicy
from spendwatch.config import Settings, load_settings
from spendwatch.wiring import open_warehouse
from warehouse.errors import InputError
from warehouse.findings_store import sync_findings
from warehouse.queries import gpu

# Called inside the transaction that stored the findings, so a notification is queued if and
# only if the change it announces is committed.
OnChanges = Callable[[Connection, list[FindingChange]], None]
GPU_KINDS: tuple[str, ...] = ("idle_gpu", "unmonitored_gpu")


@dataclasses.dataclass(frozen=True, slots=True)
class AnalysisResult:
    as_of: dt.datetime
    findings: list[Finding]
    changes: list[FindingChange]
    kinds: tuple[str, ...]


def idle_gpu_policy(settings: Settings) -> IdleGpuPolicy:
    section = settings.analytics.idle_gpu
    return IdleGpuPolicy(
        window_hours=section.window_hours,
        active_util_percent=section.active_util_percent,
        min_coverage=section.min_coverage,
        cost_lookback_days=section.cost_lookback_days,
        default_currency=settings.ingest.default_currency,
    )


def gpu_findings(
    connection: Connection, *, as_of: dt.datetime, policy: IdleGpuPolicy
) -> list[Finding]:
    """Run the GPU queries (aggregated in SQL) and the idle and unmonitored rules."""
    window_start = as_of - policy.window
    usage = gpu.gpu_window_summary(
        connection,
        start=window_start,
        end=as_of,
        active_util_percent=policy.active_util_percent,
        high_confidence_sources=HIGH_CONFIDENCE_SOURCES,
    )
    candidates = (
        []
        if usage.empty
        else usage.loc[
            (usage["active_hours"] == 0) & (usage["hours_observed"] >= policy.min_hours_observed),
            "resource_id",
        ].tolist()
    )
    idle_since = gpu.idle_streak_starts(
        connection,
        candidates,
        since=as_of - dt.timedelta(days=policy.idle_since_lookback_days),
        until=as_of,
        active_util_percent=policy.active_util_percent,
    )
    costs = gpu.hourly_effective_costs(connection, start=as_of - policy.cost_lookback, end=as_of)
    catalog = gpu.catalog_on_demand_prices(connection, as_of=as_of)
    idle = idle_gpu_findings(
        usage,
        idle_since=idle_since,
        costs=costs,
        catalog=catalog,
        inventory=gpu.gpu_inventory(connection),
        as_of=as_of,
        policy=policy,
    )
    unmonitored = unmonitored_gpu_findings(
        gpu.billed_gpu_resources_without_telemetry(connection, start=window_start, end=as_of),
        costs=costs,
        catalog=catalog,
        as_of=as_of,
        policy=policy,
    )
    return idle + unmonitored


def run_analysis(
    engine: Engine,
    *,
    as_of: dt.datetime,
    policy: IdleGpuPolicy,
    on_changes: OnChanges | None = None,
) -> AnalysisResult:
    """Rules, store and ``on_changes`` in ONE transaction: all of it lands or none of it."""
    with engine.begin() as connection:
        found = gpu_findings(connection, as_of=as_of, policy=policy)
        changes = sync_findings(connection, found, as_of=as_of, kinds=GPU_KINDS)
        if on_changes is not None:
            on_changes(connection, changes)
    return AnalysisResult(as_of=as_of, findings=found, changes=changes, kinds=GPU_KINDS)


def parse_utc(text: str, *, option: str) -> dt.datetime:
    """ISO 8601 date or timestamp; no zone means UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"{option} {text!r} is not a date or timestamp; use ISO 8601 such as 2024-09-30T12:00Z"
        ) from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def hour_floor(value: dt.datetime) -> dt.datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def summary_line(result: AnalysisResult) -> str:
    kinds: Counter[str] = Counter(f.kind for f in result.findings)
    events = Counter(change.event for change in result.changes)
    found = ", ".join(f"{kinds.get(k, 0)} {k}" for k in result.kinds)
    changed = ", ".join(f"{n} {event}" for event, n in sorted(events.items())) or "no changes"
    stamp = result.as_of.isoformat().replace("+00:00", "Z")
    return f"analyzed as of {stamp}: {found} finding(s); {changed}"


def analyze_command(
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="End of the analysis window (ISO 8601, UTC when no zone); truncated to the hour. "
        "Default: now.",
    ),
) -> None:
    """Refresh findings for idle and unmonitored GPUs (idempotent for the same --as-of)."""
    settings = load_settings()
    moment = hour_floor(parse_utc(as_of, option="--as-of") if as_of else dt.datetime.now(dt.UTC))
    engine = open_warehouse(settings)
    try:
        result = run_analysis(
            engine,
            as_of=moment,
            policy=idle_gpu_policy(settings),
            on_changes=_alerts_hook(settings, moment),
        )
    finally:
        engine.dispose()
    typer.echo(summary_line(result))


def _alerts_hook(settings: Settings, as_of: dt.datetime) -> OnChanges:
    """Queue Slack notifications for the changes, in the same transaction."""

    def enqueue(connection: Connection, changes: list[FindingChange]) -> None:
        enqueue_for_changes(connection, changes, settings=settings, as_of=as_of)

    return enqueue
