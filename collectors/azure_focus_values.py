"""Azure cost vocabulary -> FOCUS values, shared by the cost-details exports and the Query API.

ServiceCategory comes from the FOCUS converter's ``azure_category_mapping.csv``; PricingCategory
uses the FOCUS 1.2 values (Standard, Dynamic, Committed, Other) rather than the converter's.
"""

from __future__ import annotations

import datetime as dt

AZURE = "Microsoft"

# ConsumedService / resource-provider namespace -> ServiceCategory (azure_category_mapping.csv).
_CATEGORY_GROUPS = {
    "Compute": "compute containerinstance containerservice classiccompute avs "
    "desktopvirtualization serialconsole",
    "Storage": "storage storagesync cache datalakestore storagecache classicstorage "
    "containerregistry",
    "AI and Machine Learning": "machinelearningservices cognitiveservices botservice "
    "machinelearning databricks",
    "Networking": "network relay classicnetwork domainregistration",
    "Databases": "dbformysql dbforpostgressql sql sqlvirtualmachine documentdb",
    "Analytics": "synapse datalakeanalytics kusto streamanalytics notebooks hdinsight",
    "Integration": "apimanagement datafactory eventgrid logic servicebus servicefabric eventhub "
    "servicelinker datashare",
    "Web": "appconfiguration search web cdn",
    "Security": "keyvault security securityinsights managedidentity",
    "Identity": "guestconfiguration adhybridhealthservice authorization",
    "Management and Governance": "insights operationalinsights recoveryservices "
    "operationsmanagement changeanalysis costmanagementexports policyinsights blueprint "
    "advisor alertsmanagement costmanagement resourcehealth resourcenotifications",
    "Developer Tools": "loadtestservice automation maps diagnostics devtestlab visualstudio "
    "resourcegraph",
    "Internet of Things": "digitaltwins mixedreality iotsecurity",
    "Migration": "migrate datamigration offazure",
    "Media": "media",
}
SERVICE_CATEGORY: dict[str, str] = {
    f"microsoft.{name}": category
    for category, names in _CATEGORY_GROUPS.items()
    for name in names.split()
}
SERVICE_CATEGORY["microsoft.virtual network"] = "Networking"  # sic: a space in the mapping file

COMMITMENT_MODELS = {"reservation": "Reservation", "savingsplan": "Savings Plan"}
_CHARGE_CATEGORY = {
    "usage": "Usage",
    "purchase": "Purchase",
    "tax": "Tax",
    "unusedreservation": "Usage",
    "unusedsavingsplan": "Usage",
}
FREQUENCY = {"onetime": "One-Time", "recurring": "Recurring", "usagebased": "Usage-Based"}


def service_category(namespace: str | None) -> str:
    return SERVICE_CATEGORY.get((namespace or "").strip().lower(), "Other")


def namespace_of(resource_id: str | None) -> str | None:
    """``/subscriptions/../providers/Microsoft.Compute/virtualMachines/x`` -> microsoft.compute."""
    parts = (resource_id or "").split("/")
    lowered = [part.lower() for part in parts]
    if "providers" not in lowered:
        return None
    index = len(lowered) - 1 - lowered[::-1].index("providers")
    return lowered[index + 1] if index + 1 < len(parts) else None


def charge_category(charge_type: str | None) -> str:
    return _CHARGE_CATEGORY.get((charge_type or "usage").strip().lower(), "Adjustment")


def is_commitment(pricing_model: str | None) -> bool:
    return squash(pricing_model) in COMMITMENT_MODELS


def pricing_category(pricing_model: str | None, category: str) -> str | None:
    model = squash(pricing_model)
    if not model:
        return None
    if model == "ondemand":
        return "Standard"
    if model == "spot":
        return "Dynamic"
    if model in COMMITMENT_MODELS:
        return "Standard" if category == "Purchase" else "Committed"
    return "Other"


def squash(text: str | None) -> str:
    return (text or "").replace(" ", "").strip().lower().removesuffix("s")


def month_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC)


def next_month(moment: dt.datetime) -> dt.datetime:
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)
