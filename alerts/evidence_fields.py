"""What each finding kind shows from its evidence, as Block Kit ``(label, value)`` fields.

Every rule writes its own evidence keys (see the rule modules in ``analytics/``); this module
is the one place that knows them. A key that is missing or ``None`` leaves its field out, so an
older outbox payload still renders. Values are mrkdwn, escaped; amounts are in the finding's
currency: totals to the cent, unit prices (per hour, per GB-month) with all their digits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from babel.numbers import format_currency, format_decimal

Fields = list[tuple[str, str]]
Evidence = Mapping[str, Any]


def money(amount: Decimal | str, currency: str) -> str:
    return format_currency(Decimal(str(amount)), currency, locale="en_US")


def unit_price(amount: Decimal | str, currency: str) -> str:
    """A price per hour or per GB-month: its digits matter (0.526/h is not 0.53/h), up to six
    decimal places, so catalog sums such as 88.4899999025753 show as 88.49."""
    exact = Decimal(str(amount))
    value = exact.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
    if not value and exact:  # a per-request price: keep two significant digits instead
        value = Context(prec=2, rounding=ROUND_HALF_EVEN).plus(exact)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return format_currency(Decimal(text), currency, locale="en_US", decimal_quantization=False)


def escape(text: str) -> str:
    """mrkdwn treats &, < and > as markup; resource names must not become links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def gpus(count: Any, model: Any, instance_type: Any = None) -> str | None:
    if not count and not model:
        return None
    shown = f"{count or '?'}× {model or 'GPU'}"
    return escape(f"{shown} ({instance_type})" if instance_type else shown)


def _idle_gpu(evidence: Evidence, currency: str) -> Fields:
    fields: Fields = []
    shown = gpus(evidence.get("gpu_count"), evidence.get("gpu_model"))
    if shown:
        fields.append(("GPUs", shown))
    hourly = evidence.get("hourly_cost")
    if hourly is not None:
        source = evidence.get("hourly_cost_source")
        suffix = " (list price)" if source == "catalog_on_demand" else ""
        fields.append(("Hourly cost", f"{unit_price(hourly, currency)}/h{suffix}"))
    return fields


def _unmonitored_gpu(evidence: Evidence, currency: str) -> Fields:
    fields: Fields = []
    shown = gpus(
        evidence.get("gpu_count"), evidence.get("gpu_model"), evidence.get("instance_type")
    )
    if shown:
        fields.append(("GPUs", shown))
    if evidence.get("window_hours") is not None:
        fields.append(("No GPU telemetry for", f"{evidence['window_hours']} h"))
    hourly = evidence.get("hourly_cost")
    if hourly is not None:
        fields.append(("Hourly cost", f"{unit_price(hourly, currency)}/h"))
    return fields


def _quote(quote: Mapping[str, Any] | None, currency: str) -> str | None:
    if not quote:
        return None
    what = gpus(quote.get("gpu_count"), quote.get("gpu_model"))
    text = f"`{escape(str(quote.get('instance_type')))}`"
    if what:
        text += f" · {what}"
    if quote.get("hourly_price") is not None:
        text += f" · {unit_price(quote['hourly_price'], quote.get('currency') or currency)}/h"
    return text


def _gpu_rightsizing(evidence: Evidence, currency: str) -> Fields:
    fields: Fields = []
    for label, key in (("Now", "current"), ("Recommended", "recommended")):
        quoted = _quote(evidence.get(key), currency)
        if quoted:
            fields.append((label, quoted))
    used, installed = evidence.get("gpus_used"), evidence.get("gpus_installed")
    if used is not None and installed is not None:
        fields.append(("GPUs doing work", f"{used} of {installed}"))
    if evidence.get("p95_util_percent") is not None:
        fields.append(("p95 utilization", f"{evidence['p95_util_percent']:g}%"))
    if evidence.get("peak_memory_gib") is not None:
        fields.append(("Peak GPU memory", f"{evidence['peak_memory_gib']:g} GiB per GPU"))
    return fields


def _spot_candidate(evidence: Evidence, currency: str) -> Fields:
    fields: Fields = []
    on_demand, spot = evidence.get("on_demand_hourly"), evidence.get("spot_hourly")
    if on_demand is not None and spot is not None:
        prices = f"{unit_price(on_demand, currency)}/h → {unit_price(spot, currency)}/h"
        fields.append(("On-demand → spot", prices))
    if evidence.get("reason") == "workload_tag":
        tag = f"{evidence.get('workload_tag')}={evidence.get('workload')}"
        fields.append(("Why spot fits", f"tagged `{escape(tag)}`"))
    elif evidence.get("median_run_hours") is not None:
        runs = evidence.get("runs")
        why = f"median run {evidence['median_run_hours']:g} h over {runs} runs"
        fields.append(("Why spot fits", why))
    if evidence.get("interruption_notice"):
        fields.append(("Interruption", f"{escape(str(evidence['interruption_notice']))} notice"))
    return fields


def _cold_storage(evidence: Evidence, currency: str) -> Fields:
    fields: Fields = []
    if evidence.get("movable_gb") is not None:
        size = f"{format_decimal(evidence['movable_gb'], locale='en_US')} GB"
        if evidence.get("movable_objects") is not None:
            size += f" in {format_decimal(evidence['movable_objects'], locale='en_US')} objects"
        fields.append(("Data to move", size))
    if evidence.get("idle_days") is not None:
        basis = "read" if evidence.get("idle_basis") == "read" else "modified"
        fields.append(("Idle", f"not {basis} for {evidence['idle_days']} days"))
    source, target = evidence.get("storage_class"), evidence.get("target_class")
    if source and target:
        fields.append(("Move", escape(f"{source} → {target}")))
    if evidence.get("transition_cost_one_time") is not None:
        fields.append(("One-time move cost", money(evidence["transition_cost_one_time"], currency)))
    return fields


KIND_FIELDS: dict[str, Callable[[Evidence, str], Fields]] = {
    "idle_gpu": _idle_gpu,
    "unmonitored_gpu": _unmonitored_gpu,
    "gpu_rightsizing": _gpu_rightsizing,
    "spot_candidate": _spot_candidate,
    "cold_storage": _cold_storage,
}
# A caveat the reader must see before acting; shown under the recommendation.
KIND_CAVEATS: dict[str, tuple[str, ...]] = {
    "spot_candidate": ("interruption_risk",),
    "cold_storage": ("retrieval_note",),
    "idle_gpu": ("memory_note", "suspect_note"),
}


def kind_fields(kind: str, evidence: Evidence, currency: str) -> Fields:
    render = KIND_FIELDS.get(kind)
    return render(evidence, currency) if render else []


def kind_caveats(kind: str, evidence: Evidence) -> list[str]:
    keys = KIND_CAVEATS.get(kind, ())
    return [escape(str(evidence[key])) for key in keys if evidence.get(key)]
