"""The warehouse schema. Alembic migrations in ``alembic/versions`` must match it exactly
(``tests/warehouse/test_migrations.py`` runs ``alembic check`` on SQLite and PostgreSQL).

Billing columns are FOCUS 1.2 ColumnIDs in snake_case; anything FOCUS lacks is an ``x_`` column.
Money is :class:`Money` (exact), time is :class:`UTCDateTime` (aware UTC).
"""

from __future__ import annotations

import sqlalchemy as sa

from warehouse.types import Money, UTCDateTime, bigint_pk, json_type

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# FOCUS 1.2 columns by storage kind. The ingest path and the schema both read these lists, so a
# column is declared once.
FOCUS_MONEY_COLUMNS: tuple[str, ...] = (
    "billed_cost",
    "effective_cost",
    "list_cost",
    "contracted_cost",
    "list_unit_price",
    "contracted_unit_price",
    "pricing_currency_effective_cost",
    "pricing_currency_list_unit_price",
    "pricing_currency_contracted_unit_price",
)
FOCUS_QUANTITY_COLUMNS: tuple[str, ...] = (
    "consumed_quantity",
    "pricing_quantity",
    "commitment_discount_quantity",
)
FOCUS_TIME_COLUMNS: tuple[str, ...] = (
    "billing_period_start",
    "billing_period_end",
    "charge_period_start",
    "charge_period_end",
)
FOCUS_JSON_COLUMNS: tuple[str, ...] = ("tags", "sku_price_details")
FOCUS_STRING_COLUMNS: tuple[str, ...] = (
    "availability_zone",
    "billing_account_id",
    "billing_account_name",
    "billing_account_type",
    "billing_currency",
    "capacity_reservation_id",
    "capacity_reservation_status",
    "charge_category",
    "charge_class",
    "charge_description",
    "charge_frequency",
    "commitment_discount_category",
    "commitment_discount_id",
    "commitment_discount_name",
    "commitment_discount_status",
    "commitment_discount_type",
    "commitment_discount_unit",
    "consumed_unit",
    "invoice_id",
    "invoice_issuer_name",
    "pricing_category",
    "pricing_currency",
    "pricing_unit",
    "provider_name",
    "publisher_name",
    "region_id",
    "region_name",
    "resource_id",
    "resource_name",
    "resource_type",
    "service_category",
    "service_name",
    "service_subcategory",
    "sku_id",
    "sku_meter",
    "sku_price_id",
    "sub_account_id",
    "sub_account_name",
    "sub_account_type",
)
# Not FOCUS: where the row came from, which load wrote it, and provider columns FOCUS lacks.
X_COLUMNS: tuple[str, ...] = ("x_source", "x_load_id", "x_extra")

cost_line_items = sa.Table(
    "cost_line_items",
    metadata,
    sa.Column("id", bigint_pk(), primary_key=True, autoincrement=True),
    *(sa.Column(name, Money(), nullable=True) for name in FOCUS_MONEY_COLUMNS),
    *(sa.Column(name, Money(), nullable=True) for name in FOCUS_QUANTITY_COLUMNS),
    *(sa.Column(name, UTCDateTime(), nullable=True) for name in FOCUS_TIME_COLUMNS),
    *(sa.Column(name, json_type(), nullable=True) for name in FOCUS_JSON_COLUMNS),
    *(sa.Column(name, sa.Text(), nullable=True) for name in FOCUS_STRING_COLUMNS),
    sa.Column("x_source", sa.String(64), nullable=False),
    sa.Column("x_load_id", sa.String(36), nullable=False),
    sa.Column("x_extra", json_type(), nullable=True),
    # Every index is paid for on each ingested row, so only what queries use: the restatement
    # delete (account, period), window scans, and per-resource cost within a window. Nothing
    # looks rows up by x_load_id alone; the delete narrows by account and period first.
    sa.Index(None, "billing_account_id", "billing_period_start"),
    sa.Index(None, "charge_period_start"),
    sa.Index(None, "resource_id", "charge_period_start"),
)

# One row per UTC day and group of cost_line_items, kept in step by warehouse.rollups inside
# every load's transaction, so analytics and `costs` read ~20x fewer rows than the line items.
# ROLLUP_GROUP_COLUMNS are copied from the line items as they are (NULL stays NULL): there is no
# unique constraint over them, because a refresh always deletes a whole scope (account and
# period, or source, account and days) and re-inserts it from one GROUP BY, which makes each
# group unique by construction without a COALESCE-to-'' convention that readers must undo.
ROLLUP_GROUP_COLUMNS: tuple[str, ...] = (
    "billing_account_id",
    "sub_account_id",
    "provider_name",
    "service_name",
    "service_category",
    "region_id",
    "resource_id",
    "charge_category",
    "charge_class",
    "billing_currency",
)
ROLLUP_MONEY_COLUMNS: tuple[str, ...] = ("billed_cost", "effective_cost", "list_cost")

cost_daily = sa.Table(
    "cost_daily",
    metadata,
    sa.Column("id", bigint_pk(), primary_key=True, autoincrement=True),
    sa.Column("day", UTCDateTime(), nullable=True),  # UTC midnight of charge_period_start
    sa.Column("billing_period_start", UTCDateTime(), nullable=True),
    *(sa.Column(name, sa.Text(), nullable=True) for name in ROLLUP_GROUP_COLUMNS),
    sa.Column("x_source", sa.String(64), nullable=False),
    # The value of the tag named team_tag (settings.tags.team when the rollup was built).
    sa.Column("team", sa.Text(), nullable=True),
    sa.Column("team_tag", sa.String(256), nullable=False),
    *(sa.Column(name, Money(), nullable=True) for name in ROLLUP_MONEY_COLUMNS),
    sa.Column("line_count", sa.BigInteger(), nullable=False),
    # Hours covered by the group's distinct (charge_period_start, charge_period_end) pairs.
    sa.Column("usage_hours", sa.Float(), nullable=True),
    sa.Index(None, "day"),
    sa.Index(None, "resource_id", "day"),
    sa.Index(None, "billing_account_id", "billing_period_start"),
)

collector_runs = sa.Table(
    "collector_runs",
    metadata,
    sa.Column("id", bigint_pk(), primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("window_start", UTCDateTime(), nullable=True),
    sa.Column("window_end", UTCDateTime(), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # running | succeeded | failed
    sa.Column("rows", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("watermark", UTCDateTime(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("details", json_type(), nullable=True),  # e.g. files and ETags, API request counts
    sa.Index(None, "source", "started_at"),
)

# One row per GPU per hour. Utilization is a ratio of work, not money, so Float is right here.
gpu_hourly = sa.Table(
    "gpu_hourly",
    metadata,
    sa.Column("id", bigint_pk(), primary_key=True, autoincrement=True),
    sa.Column(
        "source", sa.String(32), nullable=False
    ),  # dcgm | nvidia_smi_exporter | cloudwatch | nvml
    sa.Column("provider", sa.String(32), nullable=True),
    sa.Column("resource_id", sa.String(512), nullable=False),
    sa.Column("gpu_id", sa.String(128), nullable=False),  # UUID when known, else the index
    sa.Column("hour", UTCDateTime(), nullable=False),
    sa.Column("gpu_model", sa.String(128), nullable=True),
    sa.Column("mig_profile", sa.String(64), nullable=True),
    sa.Column("util_avg", sa.Float(), nullable=True),  # percent 0-100; NULL when not reported (MIG)
    sa.Column("util_max", sa.Float(), nullable=True),
    sa.Column("engine_active_avg", sa.Float(), nullable=True),  # percent 0-100, DCGM profiling
    sa.Column("engine_active_max", sa.Float(), nullable=True),
    sa.Column("mem_used_avg_bytes", sa.BigInteger(), nullable=True),
    sa.Column("mem_used_max_bytes", sa.BigInteger(), nullable=True),
    sa.Column("mem_total_bytes", sa.BigInteger(), nullable=True),
    sa.Column("power_avg_watts", sa.Float(), nullable=True),
    sa.Column("sample_count", sa.Integer(), nullable=False),
    sa.Column("labels", json_type(), nullable=True),  # Kubernetes namespace/pod/container
    sa.UniqueConstraint("source", "resource_id", "gpu_id", "hour"),
    sa.Index(None, "hour"),
    sa.Index(None, "resource_id", "hour"),
)

# Per source, resource, provider and UTC day, recomputed from gpu_hourly by
# warehouse.gpu_rollup_daily whenever load_gpu_hourly touches that day, so the GPU fleet page
# reads ~1/24 of the rows. provider is nullable, so it cannot be in a key: a group is found by
# (source, resource_id, day) and replaced whole.
gpu_daily = sa.Table(
    "gpu_daily",
    metadata,
    sa.Column("id", bigint_pk(), primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("provider", sa.String(32), nullable=True),
    sa.Column("resource_id", sa.String(512), nullable=False),
    sa.Column("day", sa.Date(), nullable=False),
    sa.Column("gpu_hours", sa.Integer(), nullable=False),  # gpu_hourly rows: GPU-hours bought
    sa.Column("util_sum", sa.Float(), nullable=True),  # SUM(util_avg); NULL when none reported
    sa.Column("util_samples", sa.Integer(), nullable=False),  # COUNT(util_avg)
    sa.Column("util_max", sa.Float(), nullable=True),
    sa.Index(None, "day"),
    sa.Index(None, "source", "resource_id", "day"),
)

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("id", bigint_pk(), primary_key=True, autoincrement=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(512), nullable=False),
    sa.Column("account_id", sa.String(128), nullable=True),
    sa.Column("region", sa.String(64), nullable=True),
    sa.Column("name", sa.String(512), nullable=True),
    sa.Column("instance_type", sa.String(128), nullable=True),
    sa.Column("gpu_count", sa.Integer(), nullable=True),
    sa.Column("gpu_model", sa.String(128), nullable=True),
    sa.Column("gpu_memory_bytes", sa.BigInteger(), nullable=True),  # per GPU
    sa.Column("lifecycle", sa.String(16), nullable=True),  # on_demand | spot | reserved
    sa.Column("tags", json_type(), nullable=True),
    sa.Column("owner", sa.String(256), nullable=True),
    sa.Column("team", sa.String(256), nullable=True),
    sa.Column("launched_at", UTCDateTime(), nullable=True),
    sa.Column("state", sa.String(32), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("provider", "resource_id"),
)

# GPU shape of each instance type, so rightsizing can search for a smaller one.
instance_types = sa.Table(
    "instance_types",
    metadata,
    sa.Column("provider", sa.String(32), primary_key=True),
    sa.Column("instance_type", sa.String(128), primary_key=True),
    sa.Column("gpu_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("gpu_model", sa.String(128), nullable=True),
    sa.Column("gpu_memory_bytes", sa.BigInteger(), nullable=True),  # per GPU
    sa.Column("vcpus", sa.Integer(), nullable=True),
    sa.Column("memory_bytes", sa.BigInteger(), nullable=True),
    sa.Column("source", sa.String(64), nullable=False),
)

prices = sa.Table(
    "prices",
    metadata,
    sa.Column("id", bigint_pk(), primary_key=True, autoincrement=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("sku", sa.String(256), nullable=False),  # instance type or storage class
    sa.Column("pricing_model", sa.String(16), nullable=False),  # on_demand | spot | commitment
    sa.Column("unit", sa.String(32), nullable=False),  # hour | GB-month
    sa.Column("price", Money(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("effective_at", UTCDateTime(), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),  # api name, or snapshot-YYYY-MM-DD
    sa.UniqueConstraint("provider", "region", "sku", "pricing_model", "effective_at", "source"),
)

storage_inventory = sa.Table(
    "storage_inventory",
    metadata,
    sa.Column("id", bigint_pk(), primary_key=True, autoincrement=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("account_id", sa.String(128), nullable=True),
    sa.Column("region", sa.String(64), nullable=True),
    sa.Column("bucket", sa.String(512), nullable=False),
    sa.Column("prefix", sa.String(1024), nullable=False),
    sa.Column("storage_class", sa.String(64), nullable=False),
    sa.Column("bytes", sa.BigInteger(), nullable=False),
    sa.Column("objects", sa.BigInteger(), nullable=False),
    sa.Column("small_objects", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("last_modified", UTCDateTime(), nullable=True),
    sa.Column("last_accessed", UTCDateTime(), nullable=True),
    sa.Column("lifecycle_managed", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    sa.Column("tags", json_type(), nullable=True),
    sa.Column("snapshot_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("provider", "bucket", "prefix", "storage_class", "snapshot_at"),
)

findings = sa.Table(
    "findings",
    metadata,
    sa.Column("id", bigint_pk(), primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(1024), nullable=False),
    sa.Column("provider", sa.String(32), nullable=True),
    sa.Column("account_id", sa.String(128), nullable=True),
    sa.Column("region", sa.String(64), nullable=True),
    sa.Column("owner", sa.String(256), nullable=True),
    sa.Column("team", sa.String(256), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # open | snoozed | dismissed | resolved
    sa.Column("snoozed_until", UTCDateTime(), nullable=True),
    sa.Column("dismissed_reason", sa.Text(), nullable=True),
    sa.Column("confidence", sa.String(8), nullable=False),  # high | medium | low
    sa.Column("monthly_savings", Money(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("recommendation", sa.Text(), nullable=False),
    sa.Column("evidence", json_type(), nullable=False),
    sa.Column("first_seen", UTCDateTime(), nullable=False),
    sa.Column("last_seen", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("realized_monthly_savings", Money(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(None, "status", "kind"),
    sa.Index(None, "resource_id"),
)

notification_outbox = sa.Table(
    "notification_outbox",
    metadata,
    sa.Column("id", bigint_pk(), primary_key=True, autoincrement=True),
    sa.Column("dedupe_key", sa.String(256), nullable=False, unique=True),
    sa.Column("finding_id", sa.BigInteger(), sa.ForeignKey("findings.id"), nullable=True),
    sa.Column(
        "event", sa.String(16), nullable=False
    ),  # opened | escalated | reminder | resolved | digest
    sa.Column("channel", sa.String(256), nullable=False),
    sa.Column("payload", json_type(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | failed
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.Column("slack_ts", sa.String(64), nullable=True),
    sa.Column("thread_ts", sa.String(64), nullable=True),
    sa.Index(None, "status", "next_attempt_at"),
)
