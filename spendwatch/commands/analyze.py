"""`spendwatch analyze`: run the rules over the warehouse and refresh the findings table."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import pandas as pd
import typer
from sqlalchemy.engine import Connection, Engine

from alerts.outbox import enqueue_for_changes
from analytics.anomalies import anomaly_window_start, spend_anomaly_findings
from analytics.findings import Finding, FindingChange
from analytics.idle_gpu import idle_gpu_findings, unmonitored_gpu_findings
from analytics.policies import (
    HIGH_CONFIDENCE_SOURCES,
    ColdStoragePolicy,
    IdleGpuPolicy,
    RightsizingPolicy,
    SpendAnomalyPolicy,
    SpotPolicy,
)
from analytics.rightsizing import gpu_rightsizing_findings, p95_candidates
from analytics.spot import spot_candidate_findings
from analytics.storage_tiering import cold_storage_findings
from spendwatch.cli_args import parse_utc
from spendwatch.config import Settings, load_settings
from spendwatch.progress import NO_STEPS, Steps, counted, step_list
from spendwatch.wiring import open_warehouse
from warehouse.findings_store import sync_findings
from warehouse.queries import gpu, spend, storage
from warehouse.queries.resource_prices import attached_gpu_part_prices, catalog_on_demand_prices

# Called inside the transaction that stored the findings, so a notification is queued if and
# only if the change it announces is committed.
# Returns how many notifications it queued.
OnChanges = Callable[[Connection, list[FindingChange]], int]
GPU_KINDS: tuple[str, ...] = ("idle_gpu", "unmonitored_gpu")
RULE_KINDS: tuple[str, ...] = ("gpu_rightsizing", "spot_candidate", "cold_storage", "spend_anomaly")
ALL_KINDS: tuple[str, ...] = GPU_KINDS + RULE_KINDS


@dataclasses.dataclass(frozen=True, slots=True)
class RulePolicies:
    """Thresholds of the rules after idle_gpu, one section of ``[analytics]`` each."""

    rightsizing: RightsizingPolicy = dataclasses.field(default_factory=RightsizingPolicy)
    spot: SpotPolicy = dataclasses.field(default_factory=SpotPolicy)
    cold_storage: ColdStoragePolicy = dataclasses.field(default_factory=ColdStoragePolicy)
    spend_anomaly: SpendAnomalyPolicy = dataclasses.field(default_factory=SpendAnomalyPolicy)


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


def rule_policies(settings: Settings) -> RulePolicies:
    section = settings.analytics
    sizing, spot, cold, anomaly = (
        section.gpu_rightsizing,
        section.spot_candidate,
        section.cold_storage,
        section.spend_anomaly,
    )
    return RulePolicies(
        rightsizing=RightsizingPolicy(
            lookback_days=sizing.lookback_days,
            active_util_percent=sizing.active_util_percent,
            min_active_share=sizing.min_active_share,
            min_coverage=sizing.min_coverage,
            p95_util_percent=sizing.p95_util_percent,
        ),
        spot=SpotPolicy(
            lookback_days=spot.lookback_days,
            workload_tag=settings.tags.workload,
            interruptible_workloads=tuple(spot.interruptible_workloads),
            max_median_run_hours=spot.max_median_run_hours,
            spot_percentile=spot.spot_percentile,
        ),
        cold_storage=ColdStoragePolicy(
            small_object_bytes=cold.small_object_bytes,
            transition_amortize_months=cold.transition_amortize_months,
            min_monthly_saving=Decimal(cold.min_monthly_saving),
        ),
        spend_anomaly=SpendAnomalyPolicy(
            baseline_days=anomaly.baseline_days,
            evaluate_days=anomaly.evaluate_days,
            min_baseline_days=anomaly.min_baseline_days,
            robust_z=anomaly.robust_z,
            min_amount=Decimal(anomaly.min_amount),
            forecast_trailing_days=anomaly.forecast_trailing_days,
        ),
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
    catalog = catalog_on_demand_prices(connection, as_of=as_of)
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


def rightsizing_findings(
    connection: Connection, *, as_of: dt.datetime, policy: RightsizingPolicy
) -> list[Finding]:
    start = as_of - policy.lookback
    activity = spend.per_gpu_activity(
        connection,
        start=start,
        end=as_of,
        active_util_percent=policy.active_util_percent,
        high_util_percent=policy.p95_util_percent,
    )
    inventory = gpu.gpu_inventory(connection)
    # Only instances that may be lightly used need their utilization samples read.
    candidates = p95_candidates(activity, inventory=inventory, policy=policy)
    return gpu_rightsizing_findings(
        activity,
        utilization=spend.utilization_samples(connection, candidates, start=start, end=as_of),
        inventory=inventory,
        catalog=spend.gpu_type_catalog(connection, as_of=as_of),
        as_of=as_of,
        policy=policy,
        attached_parts=attached_gpu_part_prices(connection, as_of=as_of),
    )


def spot_findings(
    connection: Connection, *, as_of: dt.datetime, policy: SpotPolicy
) -> list[Finding]:
    start = as_of - policy.lookback
    on_demand = spend.on_demand_gpu_resources(connection)
    runs = spend.telemetry_runs(connection, start=start, end=as_of).assign(basis="telemetry")
    seen = set(runs["resource_id"]) if not runs.empty else set()
    blind = [rid for rid in on_demand.get("resource_id", []) if rid not in seen]
    billed = spend.billed_runs(connection, blind, start=start, end=as_of).assign(basis="billing")
    return spot_candidate_findings(
        on_demand,
        runs=pd.concat([frame for frame in (runs, billed) if not frame.empty] or [runs]),
        spot_prices=spend.spot_prices(connection, end=as_of),
        catalog=spend.gpu_type_catalog(connection, as_of=as_of),
        as_of=as_of,
        policy=policy,
        attached_parts=attached_gpu_part_prices(connection, as_of=as_of),
    )


def cold_storage_rule_findings(
    connection: Connection, *, as_of: dt.datetime, policy: ColdStoragePolicy
) -> list[Finding]:
    return cold_storage_findings(
        storage.latest_storage_inventory(connection),
        prices=storage.storage_prices(connection, as_of=as_of),
        as_of=as_of,
        policy=policy,
    )


def anomaly_findings(
    connection: Connection, *, as_of: dt.datetime, policy: SpendAnomalyPolicy
) -> list[Finding]:
    daily = spend.daily_spend(connection, start=anomaly_window_start(as_of, policy), end=as_of)
    return spend_anomaly_findings(daily, as_of=as_of, policy=policy)


Rule = Callable[[Connection, dt.datetime], list[Finding]]


def named_rules(policy: IdleGpuPolicy, policies: RulePolicies) -> list[tuple[str, Rule]]:
    """Every rule in the order it runs, named as the progress lines show it."""
    return [
        (
            "idle and unmonitored GPUs",
            lambda c, t: gpu_findings(c, as_of=t, policy=policy),
        ),
        (
            "GPU rightsizing",
            lambda c, t: rightsizing_findings(c, as_of=t, policy=policies.rightsizing),
        ),
        ("spot candidates", lambda c, t: spot_findings(c, as_of=t, policy=policies.spot)),
        (
            "cold storage",
            lambda c, t: cold_storage_rule_findings(c, as_of=t, policy=policies.cold_storage),
        ),
        (
            "spend anomalies",
            lambda c, t: anomaly_findings(c, as_of=t, policy=policies.spend_anomaly),
        ),
    ]


def run_analysis(
    engine: Engine,
    *,
    as_of: dt.datetime,
    policy: IdleGpuPolicy,
    policies: RulePolicies | None = None,
    on_changes: OnChanges | None = None,
    steps: Steps = NO_STEPS,
) -> AnalysisResult:
    """Rules, store and ``on_changes`` in ONE transaction: all of it lands or none of it.

    Each rule, the store and ``on_changes`` are a step of ``steps`` (by default reported
    nowhere: only the command draws them, never the scheduler).
    """
    found: list[Finding] = []
    with engine.begin() as connection:
        for name, rule in named_rules(policy, policies or RulePolicies()):
            with steps.step(name) as step:
                new = rule(connection, as_of)
                step.report(counted(len(new), "finding"))
            found += new
        with steps.step("saving findings") as step:
            changes = sync_findings(connection, found, as_of=as_of, kinds=ALL_KINDS)
            step.report(change_counts(changes))
        if on_changes is not None:
            with steps.step("queueing alerts") as step:
                step.report(counted(on_changes(connection, changes), "notification"))
    return AnalysisResult(as_of=as_of, findings=found, changes=changes, kinds=ALL_KINDS)


def hour_floor(value: dt.datetime) -> dt.datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def summary_line(result: AnalysisResult) -> str:
    kinds: Counter[str] = Counter(f.kind for f in result.findings)
    # Kinds with nothing found are left out: six zeros hide the one number that matters.
    found = ", ".join(f"{kinds[k]} {k}" for k in result.kinds if kinds.get(k)) or "0"
    changed = change_counts(result.changes)
    stamp = result.as_of.isoformat().replace("+00:00", "Z")
    return f"analyzed as of {stamp}: {found} finding(s); {changed}"


def change_counts(changes: list[FindingChange]) -> str:
    """E.g. "2 opened, 1 resolved", or "no changes"."""
    events = Counter(change.event for change in changes)
    return ", ".join(f"{n} {event}" for event, n in sorted(events.items())) or "no changes"


def analyze_command(
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="End of the analysis window (ISO 8601, UTC when no zone); truncated to the hour. "
        "Default: now.",
    ),
) -> None:
    """Refresh findings: idle, unmonitored and oversized GPUs, spot candidates, cold storage and
    spend anomalies (idempotent for the same --as-of)."""
    settings = load_settings()
    moment = parse_utc(as_of, option="--as-of") if as_of else dt.datetime.now(dt.UTC)
    with step_list() as progress:
        result = analyze_now(settings, as_of=moment, steps=Steps(progress))
    typer.echo(summary_line(result))


def analyze_now(
    settings: Settings, *, as_of: dt.datetime, steps: Steps = NO_STEPS
) -> AnalysisResult:
    """Run every rule as of ``as_of`` (truncated to the hour) and queue the alerts it implies.

    The CLI, the scheduler's analyze job and the demo all come through here; only the CLI
    passes ``steps`` that draw.
    """
    moment = hour_floor(as_of)
    engine = open_warehouse(settings)
    try:
        return run_analysis(
            engine,
            as_of=moment,
            policy=idle_gpu_policy(settings),
            policies=rule_policies(settings),
            on_changes=_alerts_hook(settings, moment),
            steps=steps,
        )
    finally:
        engine.dispose()


def _alerts_hook(settings: Settings, as_of: dt.datetime) -> OnChanges:
    """Queue Slack notifications for the changes, in the same transaction."""

    def enqueue(connection: Connection, changes: list[FindingChange]) -> int:
        return enqueue_for_changes(connection, changes, settings=settings, as_of=as_of)

    return enqueue
