"""The one settings class.

Sources, highest priority first:
1. environment variables ``SPENDWATCH_<SECTION>__<KEY>`` (lists and tables take JSON);
2. the TOML file at ``$SPENDWATCH_CONFIG``, else ``./spendwatch.toml`` when it exists;
3. the defaults below.

Secrets are ``SecretStr`` so that printing a settings object never shows them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("spendwatch.toml")


class DatabaseSettings(BaseModel):
    url: str = "sqlite:///./spendwatch.db"
    echo: bool = False


class AwsExport(BaseModel):
    bucket: str
    prefix: str = ""
    name: str
    format: Literal["focus", "cur2", "cur-legacy"] = "focus"


class AwsSettings(BaseModel):
    exports: list[AwsExport] = Field(default_factory=list)
    cost_explorer: bool = False
    # Cost Explorer bills USD 0.01 per request: each run re-reads only watermark - lookback.
    cost_explorer_lookback_days: int = Field(default=3, ge=0)
    cost_explorer_initial_days: int = Field(default=31, ge=1)
    # Resource-level EC2 rows (GetCostAndUsageWithResources, last 14 days; opt-in in the console).
    cost_explorer_resources: bool = False
    exports_initial_days: int = Field(default=365, ge=1)  # first run: periods this far back
    retry_mode: Literal["standard", "adaptive"] = "standard"  # botocore retry mode
    max_attempts: int = Field(default=5, ge=1)
    region: str = "us-east-1"
    # EC2 GPU inventory and EC2 prices (Pricing API + spot history): off until asked for.
    inventory: bool = False
    # The Pricing API is served from us-east-1, eu-central-1 and ap-south-1 only.
    pricing_region: str = "us-east-1"
    # S3 storage inventory (collector s3_storage): these buckets, or with storage = true and no
    # names, every bucket list_buckets shows. Off until one of the two is set.
    storage: bool = False
    storage_buckets: list[str] = Field(default_factory=list)
    prefix_depth: int = Field(default=2, ge=0)  # roll objects up by their first N folders


class GcpSettings(BaseModel):
    billing_export_table: str = ""
    bigquery_endpoint: str = ""
    catalog_endpoint: str = ""
    # BigQuery jobs run (and are billed) here; empty: the export table's project.
    project: str = ""
    # standard | detailed (resource-level) | focus (Google's FOCUS view); auto: from the name.
    billing_export_format: Literal["auto", "standard", "detailed", "focus"] = "auto"
    # Cloud Billing Catalog prices (GPU, compute, storage SKUs): off until asked for.
    catalog: bool = False
    catalog_api_key: SecretStr = SecretStr("")  # empty: Application Default Credentials
    catalog_currency: str = "USD"
    catalog_regions: list[str] = Field(default_factory=list)  # empty: every region
    # Compute Engine GPU inventory (instances.aggregatedList per project): off until asked for.
    inventory: bool = False
    projects: list[str] = Field(default_factory=list)  # empty: [gcp] project
    compute_endpoint: str = "https://compute.googleapis.com"


class AzureSettings(BaseModel):
    scopes: list[str] = Field(default_factory=list)
    management_endpoint: str = "https://management.azure.com"
    # Cost Management exports (EA/MCA actual or amortized cost, or FOCUS): paths or https URLs.
    exports: list[str] = Field(default_factory=list)
    # VM GPU inventory (virtualMachines.list_all per subscription) and Retail Prices API prices.
    inventory: bool = False
    subscriptions: list[str] = Field(default_factory=list)  # ids; empty: those in [azure] scopes
    retail_prices_endpoint: str = "https://prices.azure.com/api/retail/prices"  # public, no auth
    price_regions: list[str] = Field(default_factory=list)  # plus the inventory's regions


class PrometheusSettings(BaseModel):
    url: str = ""
    resource_label: str = "instance_id"
    fallback_label: str = "Hostname"
    timeout_seconds: float = 30.0
    retries: int = 3  # on 5xx and connection errors, with exponential backoff
    retry_backoff_seconds: float = 0.5
    chunk_hours: int = 24  # hours per query_range call (Prometheus caps a series at 11,000 points)
    lookback_hours: int = 2  # re-read this much before the watermark: late samples
    initial_hours: int = 24  # first run, when there is no watermark yet


class CloudWatchSettings(BaseModel):
    # GPU metrics the CloudWatch agent publishes (nvidia_gpu section): off until asked for.
    enabled: bool = False
    namespace: str = "CWAgent"
    region: str = ""  # empty: [aws] region
    period_seconds: int = 3600  # GetMetricData Period; a divisor of 3600, combined into hours
    lookback_hours: int = 2  # the agent publishes late; re-read this much before the watermark
    initial_hours: int = 24


class AgentSettings(BaseModel):
    # `spendwatch agent`: the NVML host agent.
    interval_seconds: float = 60.0
    resource_id: str = ""  # empty: this host's name
    metrics_address: str = "127.0.0.1"  # --serve-metrics binds here


class SlackSettings(BaseModel):
    webhook_url: SecretStr = SecretStr("")
    bot_token: SecretStr = SecretStr("")
    api_base_url: str = "https://slack.com/api/"
    default_channel: str = "#finops"
    channels: dict[str, str] = Field(default_factory=dict)
    dashboard_base_url: str = "http://localhost:8501"
    min_monthly_savings: str = "100"
    # A spend anomaly alerts when its excess over the baseline median is at least this and the
    # rule's own [analytics.spend_anomaly] min_amount (billing currency).
    min_anomaly_amount: str = "50"
    # unmonitored_gpu findings claim no saving: queued only when this is on or in digest mode.
    alert_unmonitored: bool = False
    escalation_ratio: str = "1.5"
    reminder_days: int = 7
    digest: bool = False
    digest_top_n: int = 5
    timeout_seconds: float = 10.0
    server_error_retries: int = 1  # in-call retries on 500/503 before the outbox backs off
    rate_limit_retries: int = 2  # in-call retries on 429, each after its Retry-After
    retry_base_seconds: int = 60  # outbox backoff: base * 2**(attempts-1), capped at 6 hours
    max_attempts: int = 10  # then the notification is marked failed


class TagSettings(BaseModel):
    team: str = "team"
    owner: str = "owner"
    workload: str = "workload"


class IdleGpuPolicy(BaseModel):
    window_hours: int = 24
    active_util_percent: float = 5.0
    min_coverage: float = 0.9
    cost_lookback_days: int = 7


class GpuRightsizingSettings(BaseModel):
    lookback_days: int = 7
    active_util_percent: float = 5.0
    min_active_share: float = 0.05
    min_coverage: float = 0.5
    p95_util_percent: float = 30.0


class SpotCandidateSettings(BaseModel):
    lookback_days: int = 30
    interruptible_workloads: list[str] = Field(
        default_factory=lambda: ["training", "batch", "ci", "dev"]
    )
    max_median_run_hours: float = 6.0
    spot_percentile: float = 0.9


class ColdStorageSettings(BaseModel):
    small_object_bytes: int = 128 << 10
    transition_amortize_months: int = 12
    min_monthly_saving: str = "0.01"


class SpendAnomalySettings(BaseModel):
    baseline_days: int = 28
    evaluate_days: int = 3
    min_baseline_days: int = 14
    robust_z: float = 3.0
    min_amount: str = "50"
    forecast_trailing_days: int = 7


class AnalyticsSettings(BaseModel):
    idle_gpu: IdleGpuPolicy = Field(default_factory=IdleGpuPolicy)
    gpu_rightsizing: GpuRightsizingSettings = Field(default_factory=GpuRightsizingSettings)
    spot_candidate: SpotCandidateSettings = Field(default_factory=SpotCandidateSettings)
    cold_storage: ColdStorageSettings = Field(default_factory=ColdStorageSettings)
    spend_anomaly: SpendAnomalySettings = Field(default_factory=SpendAnomalySettings)


class DashboardSettings(BaseModel):
    address: str = "127.0.0.1"
    port: int = 8501
    cache_ttl_seconds: int = 300
    # Needed to bind anything but loopback: "oidc" (st.login, [auth] in .streamlit/secrets.toml)
    # or "proxy-header" (a trusted reverse proxy names the user in proxy_header).
    auth: Literal["none", "oidc", "proxy-header"] = "none"
    proxy_header: str = "X-Forwarded-Email"
    allowed_users: list[str] = Field(default_factory=list)  # emails; case-insensitive
    # Data health calls a billing account's feed late when its latest charge day is more than
    # this many days before today (UTC). Exports and Cost Explorer land within about a day.
    billing_late_after_days: int = Field(default=3, ge=1)


class ReportSettings(BaseModel):
    # `spendwatch report` and the scheduled job write spendwatch-report-YYYY-MM.html/.csv here.
    out_dir: Path = Path("reports-out")
    top_recommendations: int = Field(default=20, ge=1)


class IngestSettings(BaseModel):
    batch_rows: int = 65_536
    default_currency: str = "USD"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SPENDWATCH_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    aws: AwsSettings = Field(default_factory=AwsSettings)
    gcp: GcpSettings = Field(default_factory=GcpSettings)
    azure: AzureSettings = Field(default_factory=AzureSettings)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    cloudwatch: CloudWatchSettings = Field(default_factory=CloudWatchSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    tags: TagSettings = Field(default_factory=TagSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)

    @field_validator("database")
    @classmethod
    def _url_not_empty(cls, value: DatabaseSettings) -> DatabaseSettings:
        if not value.url.strip():
            raise ValueError("database.url is empty; set SPENDWATCH_DATABASE__URL")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file_path()),
        )


def config_file_path() -> Path | None:
    """The settings file in force: ``$SPENDWATCH_CONFIG`` or ``./spendwatch.toml``."""
    explicit = os.environ.get("SPENDWATCH_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                f"SPENDWATCH_CONFIG={explicit}: no such file; fix the path or unset it"
            )
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


class ConfigError(Exception):
    """The settings could not be read. The message names the file or variable."""


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning pydantic's multi-line report into one actionable line."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        source = config_file_path() or "environment"
        raise ConfigError(
            f"invalid setting {where!r} ({first['msg']}); check {source} "
            f"or SPENDWATCH_{where.upper().replace('.', '__')}"
        ) from None
