"""The offline price snapshot: dated prices and GPU shapes shipped inside the package.

It is the price source of the demo, and the fallback whenever a price API is unreachable. Every
price keeps its source and date (``snapshot-aws-2026-07-20``), so a number computed from it can
say how old it is. Prices are read as decimal text and never pass through float.

Rebuild it from the public samples (see ``collectors/snapshots/README.md``)::

    python -m collectors.price_snapshot build --from ../shared/data
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from collectors.aws_inventory import shape_from_type_info
from collectors.base import CollectResult
from warehouse.errors import InputError
from warehouse.load_inventory import (
    MIB,
    PRICE_KEY,
    InstanceTypeRecord,
    PriceRecord,
    load_inventory,
)
from warehouse.queries.catalog import bills_attached_gpus

SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"
PRICES_FILE = "prices.csv"
SHAPES_FILE = "instance_types.csv"
HANDMADE_FILE = "handmade_gpu_shapes.csv"

PRICE_COLUMNS = (
    "provider",
    "region",
    "sku",
    "pricing_model",
    "unit",
    "price",
    "currency",
    "effective_at",
    "source",
)
SHAPE_COLUMNS = (
    "provider",
    "instance_type",
    "gpu_count",
    "gpu_model",
    "gpu_memory_mib",
    "vcpus",
    "memory_mib",
    "source",
)

AWS_PRICES = Path("aws/ondemand-prices/derived_ondemand_us-east-1.csv")
AWS_API_SAMPLES = Path("aws/ec2-api-responses")
GCP_PRICING = Path("gcp/pricing/pricing.yml")

# pricing.yml names accelerators by key; memory per GPU follows what the AWS API reports for the
# same card, so one model has one memory figure across clouds.
GCP_ACCELERATORS: dict[str, tuple[str, int]] = {
    "a100": ("A100", 40960),
    "a100-80gb": ("A100", 81920),
    "h100-80gb": ("H100", 81920),
    "h100-80gb-mega": ("H100", 81920),
    "l4": ("L4", 22888),
    "rtx6000": ("RTX PRO 6000", 98304),
}
# pricing.yml cost keys -> (pricing_model, unit). CUD prices are given per month only; keeping
# the source's unit avoids a division that would invent digits.
GCP_COST_KEYS: dict[str, tuple[str, str]] = {
    "hour": ("on_demand", "hour"),
    "hour_spot": ("spot", "hour"),
    "month_1y": ("commitment_1y", "month"),
    "month_3y": ("commitment_3y", "month"),
}
# Machine types that take attached GPUs (N1) keep only their hourly prices: a VM's price is
# machine + attached GPUs, and GPU commitments are not what the rules compare against.
GCP_ATTACHED_GPU_COST_KEYS = ("hour", "hour_spot")
GCS_CLASSES = {"standard": "standard", "nearline": "nearline", "coldline": "coldline"}
GCS_CLASSES["archiv"] = "archive"  # pricing.yml spells the archive class "archiv"


@dataclass(frozen=True, slots=True)
class Snapshot:
    shapes: tuple[InstanceTypeRecord, ...]
    prices: tuple[PriceRecord, ...]

    def sources(self) -> set[str]:
        return {price.source for price in self.prices}


# --- reading the shipped snapshot -------------------------------------------------------------


@lru_cache(maxsize=4)
def read_snapshot(directory: Path = SNAPSHOT_DIR) -> Snapshot:
    with (directory / SHAPES_FILE).open(newline="", encoding="utf-8") as handle:
        shapes = tuple(_shape_from_row(row) for row in csv.DictReader(handle))
    with (directory / PRICES_FILE).open(newline="", encoding="utf-8") as handle:
        prices = tuple(_price_from_row(row) for row in csv.DictReader(handle))
    return Snapshot(shapes=shapes, prices=prices)


def load_snapshot(engine: Engine, *, directory: Path = SNAPSHOT_DIR) -> tuple[int, int]:
    """Fill ``instance_types`` and ``prices`` from the snapshot (idempotent, one transaction)."""
    snapshot = read_snapshot(directory)
    counts = load_inventory(engine, shapes=snapshot.shapes, price_records=snapshot.prices)
    return counts.shapes, counts.prices


def snapshot_prices(
    *, provider: str, skus: Iterable[str], pricing_model: str = "on_demand"
) -> list[PriceRecord]:
    wanted = set(skus)
    return [
        price
        for price in read_snapshot().prices
        if price.provider == provider
        and price.sku in wanted
        and price.pricing_model == pricing_model
    ]


def _shape_from_row(row: dict[str, str]) -> InstanceTypeRecord:
    return InstanceTypeRecord(
        provider=row["provider"],
        instance_type=row["instance_type"],
        gpu_count=int(row["gpu_count"]),
        gpu_model=row["gpu_model"] or None,
        gpu_memory_bytes=_mib_to_bytes(row["gpu_memory_mib"]),
        vcpus=int(row["vcpus"]) if row["vcpus"] else None,
        memory_bytes=_mib_to_bytes(row["memory_mib"]),
        source=row["source"],
    )


def _price_from_row(row: dict[str, str]) -> PriceRecord:
    return PriceRecord(
        provider=row["provider"],
        region=row["region"],
        sku=row["sku"],
        pricing_model=row["pricing_model"],
        unit=row["unit"],
        price=Decimal(row["price"]),
        currency=row["currency"],
        effective_at=dt.datetime.fromisoformat(row["effective_at"]),
        source=row["source"],
    )


def _mib_to_bytes(text: str) -> int | None:
    return int(text) * MIB if text else None


class PriceSnapshotCollector:
    """``spendwatch collect price_snapshot``: the shipped prices and shapes (no network)."""

    name = "price_snapshot"
    loads = "prices"
    natural_key: tuple[str, ...] = PRICE_KEY
    lookback = dt.timedelta(0)
    initial_window = dt.timedelta(days=1)

    def collect(self, engine: Engine, *, since: dt.datetime, until: dt.datetime) -> CollectResult:
        shapes, loaded = load_snapshot(engine)
        sources = sorted(read_snapshot().sources())
        return CollectResult(
            rows=loaded, watermark=until, details={"shapes": shapes, "price_sources": sources}
        )


# --- building it from the public samples --------------------------------------------------------


def build_snapshot(data_dir: Path) -> Snapshot:
    """Read the public samples under ``data_dir`` (../shared/data) into one snapshot."""
    aws_prices = list(_aws_ondemand_prices(data_dir / AWS_PRICES))
    gcp_shapes, gcp_prices = _gcp_catalog(data_dir / GCP_PRICING)
    shapes = {(s.provider, s.instance_type): s for s in _handmade_shapes()}
    for shape in [*_aws_api_shapes(data_dir / AWS_API_SAMPLES), *gcp_shapes]:
        shapes[(shape.provider, shape.instance_type)] = shape  # real API data wins
    return Snapshot(
        shapes=tuple(sorted(shapes.values(), key=lambda s: (s.provider, s.instance_type))),
        prices=tuple(sorted([*aws_prices, *gcp_prices], key=_price_sort_key)),
    )


def write_snapshot(snapshot: Snapshot, directory: Path = SNAPSHOT_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    shapes = (
        {**asdict(s), "gpu_memory_mib": _bytes_to_mib(s.gpu_memory_bytes)}
        | {"memory_mib": _bytes_to_mib(s.memory_bytes)}
        for s in snapshot.shapes
    )
    _write_csv(directory / SHAPES_FILE, SHAPE_COLUMNS, shapes)
    prices = (
        {**asdict(p), "price": format(p.price, "f"), "effective_at": p.effective_at.isoformat()}
        for p in snapshot.prices
    )
    _write_csv(directory / PRICES_FILE, PRICE_COLUMNS, prices)
    read_snapshot.cache_clear()


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _bytes_to_mib(value: int | None) -> str:
    return "" if value is None else str(value // MIB)


def _price_sort_key(price: PriceRecord) -> tuple[str, ...]:
    return (price.provider, price.sku, price.region, price.pricing_model)


def _aws_ondemand_prices(path: Path) -> Iterator[PriceRecord]:
    with _open_input(path) as handle:
        for row in csv.DictReader(handle):
            at = dt.datetime.fromisoformat(row["generated_at"].replace("Z", "+00:00"))
            yield PriceRecord(
                provider="aws",
                region=row["region"],
                sku=row["instance_type"],
                pricing_model="on_demand",
                unit="hour",
                price=Decimal(row["ondemand_usd_per_hour"]),
                currency="USD",
                effective_at=at,
                source=f"snapshot-aws-{at.date().isoformat()}",
            )


def _aws_api_shapes(samples_dir: Path) -> list[InstanceTypeRecord]:
    """GpuInfo from moto's bundled DescribeInstanceTypes data, plus the real API samples."""
    shapes: dict[str, InstanceTypeRecord] = {}
    for sample in sorted(samples_dir.glob("*.json")):
        if not sample.name.startswith(("DescribeInstanceTypes__", "FilterVerbose__")):
            continue
        document = json.loads(sample.read_text(encoding="utf-8"))
        items = document["InstanceTypes"] if isinstance(document, dict) else document
        for info in items:
            if info.get("GpuInfo"):
                shapes[info["InstanceType"]] = shape_from_type_info(info, source="aws-api-sample")
    source = f"aws-api-via-moto-{metadata.version('moto')}"
    for info in _moto_instance_types():
        if info.get("GpuInfo"):
            shapes[info["InstanceType"]] = shape_from_type_info(info, source=source)
    return list(shapes.values())


def _moto_instance_types() -> list[dict[str, Any]]:
    try:
        import moto
    except ImportError:
        raise InputError(
            "building the snapshot reads moto's instance-type data; "
            "install the dev extra (pip install -e '.[dev]')"
        ) from None
    path = Path(moto.__file__).parent / "ec2" / "resources" / "instance_types.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return list(json.load(handle).values())


def _gcp_catalog(path: Path) -> tuple[list[InstanceTypeRecord], list[PriceRecord]]:
    document = _load_yaml_exact(path)
    at = dt.datetime.fromtimestamp(int(document["about"]["timestamp"]), tz=dt.UTC)
    source = f"snapshot-gcp-{at.date().isoformat()}"
    shapes: list[InstanceTypeRecord] = []
    prices: list[PriceRecord] = []
    for machine, spec in document["compute"]["instance"].items():
        accelerators = [key for key in spec if key in GCP_ACCELERATORS]
        if not accelerators:
            if bills_attached_gpus("gcp", machine):
                prices.extend(_gcp_attached_gpu_machine_prices(machine, spec, at, source))
            continue  # only machine types that run GPUs: keeps the snapshot small
        model, mib = GCP_ACCELERATORS[accelerators[0]]
        count = Decimal(spec[accelerators[0]])
        whole = int(count)
        shapes.append(
            InstanceTypeRecord(
                provider="gcp",
                instance_type=machine,
                gpu_count=whole,
                gpu_model=model,
                # A fractional GPU (g4-standard-6 has 1/8) reports its slice, as AWS does for g6f.
                gpu_memory_bytes=int(mib * (count if whole == 0 else 1)) * MIB,
                vcpus=int(spec["cpu"]),
                memory_bytes=int(Decimal(spec["ram"]) * 1024) * MIB,
                source=source,
            )
        )
        for region, costs in spec["cost"].items():
            for key, (model_name, unit) in GCP_COST_KEYS.items():
                if key in costs:
                    prices.append(
                        _gcp_price(region, machine, model_name, unit, costs[key], at, source)
                    )
    for key, storage_class in GCS_CLASSES.items():
        for region, costs in document["storage"]["bucket"][key]["cost"].items():
            prices.append(
                _gcp_price(
                    region, storage_class, "on_demand", "GB-month", costs["month"], at, source
                )
            )
    return shapes, prices


def _gcp_attached_gpu_machine_prices(
    machine: str, spec: dict[str, Any], at: dt.datetime, source: str
) -> Iterator[PriceRecord]:
    for region, costs in spec["cost"].items():
        for key in GCP_ATTACHED_GPU_COST_KEYS:
            if key in costs:
                model_name, unit = GCP_COST_KEYS[key]
                yield _gcp_price(region, machine, model_name, unit, costs[key], at, source)


def _gcp_price(
    region: str,
    sku: str,
    pricing_model: str,
    unit: str,
    value: Decimal,
    at: dt.datetime,
    source: str,
) -> PriceRecord:
    return PriceRecord(
        provider="gcp",
        region=region,
        sku=sku,
        pricing_model=pricing_model,
        unit=unit,
        price=Decimal(value),
        currency="USD",
        effective_at=at,
        source=source,
    )


def _load_yaml_exact(path: Path) -> Any:
    """YAML with every number read as Decimal from its text, so no price passes through float."""
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 2 s instead of 30

    class ExactLoader(base):
        pass

    def exact(loader: Any, node: Any) -> Decimal:
        return Decimal(loader.construct_scalar(node))

    ExactLoader.add_constructor("tag:yaml.org,2002:float", exact)
    ExactLoader.add_constructor("tag:yaml.org,2002:int", exact)
    with _open_input(path) as handle:
        return yaml.load(handle, Loader=ExactLoader)  # a SafeLoader subclass: no arbitrary objects


def _handmade_shapes() -> list[InstanceTypeRecord]:
    with (SNAPSHOT_DIR / HANDMADE_FILE).open(newline="", encoding="utf-8") as handle:
        return [_shape_from_row({**row, "source": "handmade"}) for row in csv.DictReader(handle)]


def _open_input(path: Path) -> Any:
    try:
        return path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{path}: not found; pass --from the shared data folder (../shared/data)"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collectors.price_snapshot")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="rebuild the shipped snapshot from public samples")
    build.add_argument("--from", dest="data_dir", type=Path, required=True)
    build.add_argument("--out", type=Path, default=SNAPSHOT_DIR)
    args = parser.parse_args(argv)
    snapshot = build_snapshot(args.data_dir)
    write_snapshot(snapshot, args.out)
    print(
        f"wrote {len(snapshot.shapes)} shapes and {len(snapshot.prices)} prices to {args.out} "
        f"({', '.join(sorted(snapshot.sources()))})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
