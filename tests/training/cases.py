"""A small Feast repo of our own making with randomized feature rows, to compare training sets with Feast.

Four views cover what a point-in-time join must get right: ``orders`` (one key, a 3-day ttl, a created
timestamp with ties on the event timestamp, nullable int, float and string features), ``store_visits`` (a
compound key, no ttl, an embedding array, a field mapping and naive timestamps), ``promos`` (a 10-day ttl,
no created timestamp, a timestamp column of another name) and ``devices`` (a string key, with quotes and
spaces, int32 in the files against int64 declared, nanosecond timestamps, files without statistics). Sources
are directories of several Parquet files sorted by key with tiny row groups, so the builder's pruned reads
really skip data.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Array, Float32, Float64, Int32, Int64, String

START = datetime(2024, 3, 1, tzinfo=UTC)
FEATURE_STORE_YAML = """project: cases
provider: local
registry: registry.db
online_store:
  type: sqlite
  path: online.db
offline_store:
  type: {offline_store}
entity_key_serialization_version: 3
"""

customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
store = Entity(name="store", join_keys=["store_id"], value_type=ValueType.INT64)
device = Entity(name="device", join_keys=["device_id"], value_type=ValueType.STRING)
DEVICES = ["phone 1", "tablet's", 'tv "2"', "watch"]


def make_repo(root: Path, *, data: str | None = None, offline_store: str = "duckdb") -> FeatureStore:
    """A Feast repo in ``root`` with the four views applied, its sources under ``data`` (default ``root/data``; a
    URI needs the ``dask`` offline store) read by Feast's ``offline_store``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "feature_store.yaml").write_text(FEATURE_STORE_YAML.format(offline_store=offline_store))
    data = data or str(root / "data")
    endpoint = os.environ.get("AWS_ENDPOINT_URL") if data.startswith("s3://") else None

    def source(name: str, timestamp: str, created: str | None = None, mapping: dict | None = None) -> FileSource:
        return FileSource(
            name=f"{name}_source",
            path=f"{data}/{name}",
            s3_endpoint_override=endpoint,
            file_format=ParquetFormat(),
            timestamp_field=timestamp,
            created_timestamp_column=created or "",
            field_mapping=mapping or {},
        )

    orders = FeatureView(
        name="orders",
        entities=[customer],
        ttl=timedelta(days=3),
        schema=[Field(name="order_count", dtype=Int32), Field(name="spend", dtype=Float32),
                Field(name="channel", dtype=String), Field(name="lifetime", dtype=Int64)],
        source=source("orders", "event_timestamp", "created"),
    )  # fmt: skip
    visits = FeatureView(
        name="store_visits",
        entities=[customer, store],
        ttl=timedelta(0),
        schema=[Field(name="visits", dtype=Float64), Field(name="embedding", dtype=Array(Float32))],
        source=source("store_visits", "event_timestamp", "created", mapping={"n_visits": "visits"}),
    )
    promos = FeatureView(
        name="promos",
        entities=[customer],
        ttl=timedelta(days=10),
        schema=[Field(name="discount", dtype=Float32), Field(name="visits", dtype=Float64)],
        source=source("promos", "promo_time"),
    )
    devices = FeatureView(
        name="devices",
        entities=[device],
        ttl=timedelta(days=5),
        schema=[Field(name="battery", dtype=Float64), Field(name="apps", dtype=Int64)],
        source=source("devices", "seen_at"),
    )
    service = FeatureService(name="everything", features=[promos, orders, visits[["embedding"]], devices])
    fs = FeatureStore(repo_path=str(root))
    fs.apply([customer, store, device, orders, visits, promos, devices, service])
    return fs


def write_rows(root: Path, seed: int, *, customers: int = 12, stores: int = 3) -> pd.DataFrame:
    """Write random feature rows for every view of ``make_repo(root)``; return random entity rows for them."""
    rng = np.random.default_rng(seed)
    days = lambda n: START + timedelta(days=int(n))  # noqa: E731
    _write(root / "data" / "orders", _orders(rng, customers, days), "customer_id", rng)
    _write(root / "data" / "store_visits", _visits(rng, customers, stores, days), "customer_id", rng)
    _write(root / "data" / "promos", _promos(rng, customers, days), "customer_id", rng)
    _write(root / "data" / "devices", _devices(rng, days), "device_id", rng, statistics=False)
    return _entities(rng, customers + 2, stores, days)  # two customers never have a feature row


def _orders(rng: np.random.Generator, customers: int, days) -> pa.Table:
    n = customers * 6
    ts = [days(d) for d in rng.integers(0, 20, n)]
    keys = rng.integers(0, customers, n)
    # Created timestamps break ties on the event timestamp; at most one per tie is null (it loses the tie),
    # since two nulls would leave the winner undefined.
    created = [t + timedelta(hours=int(h)) for t, h in zip(ts, rng.permutation(n), strict=True)]
    nulls = {(k, t): i for i, (k, t) in enumerate(zip(keys, ts, strict=True)) if rng.random() < 0.15}
    created = [None if nulls.get((k, t)) == i else c for i, (k, t, c) in enumerate(zip(keys, ts, created, strict=True))]
    return pa.table({
        "customer_id": pa.array(keys, pa.int64()),
        "event_timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "created": pa.array(created, pa.timestamp("us", tz="UTC")),
        "order_count": pa.array(_nullable(rng, rng.integers(0, 9, n)), pa.int32()),
        "spend": pa.array(_nullable(rng, rng.random(n) * 100), pa.float32()),
        "channel": pa.array(_nullable(rng, rng.choice(["web", "app", "store's"], n)), pa.string()),
        "lifetime": pa.array(rng.integers(0, 10**12, n), pa.int64()),
    })  # fmt: skip


def _visits(rng: np.random.Generator, customers: int, stores: int, days) -> pa.Table:
    n = customers * stores * 2
    ts = [days(d).replace(tzinfo=None) for d in rng.integers(0, 20, n)]  # naive: taken as UTC by both
    embeddings = [None if rng.random() < 0.1 else rng.random(4).astype(np.float32).tolist() for _ in range(n)]
    return pa.table({
        "customer_id": pa.array(rng.integers(0, customers, n), pa.int64()),
        "store_id": pa.array(rng.integers(0, stores, n), pa.int64()),
        "event_timestamp": pa.array(ts, pa.timestamp("us")),
        "created": pa.array([t + timedelta(minutes=i) for i, t in enumerate(ts)], pa.timestamp("us")),
        "n_visits": pa.array(_nullable(rng, rng.random(n) * 5), pa.float64()),
        "embedding": pa.array(embeddings, pa.list_(pa.float32())),
    })  # fmt: skip


def _promos(rng: np.random.Generator, customers: int, days) -> pa.Table:
    # One row per (customer, day) at most: without a created timestamp a tie would have no defined winner.
    pairs = rng.permutation(customers * 20)[: customers * 4]
    return pa.table({
        "customer_id": pa.array(pairs // 20, pa.int64()),
        "promo_time": pa.array([days(d) + timedelta(hours=6) for d in pairs % 20], pa.timestamp("us", tz="UTC")),
        "discount": pa.array(_nullable(rng, rng.random(len(pairs))), pa.float32()),
        "visits": pa.array(rng.random(len(pairs)), pa.float64()),
    })  # fmt: skip


def _devices(rng: np.random.Generator, days) -> pa.Table:
    # One row per (device, day) at most: there is no created timestamp. The last device never has a row.
    pairs = rng.permutation((len(DEVICES) - 1) * 20)[:30]
    return pa.table({
        "device_id": pa.array([DEVICES[p // 20] for p in pairs], pa.string()),
        "seen_at": pa.array([days(d) + timedelta(microseconds=7) for d in pairs % 20], pa.timestamp("ns", tz="UTC")),
        "battery": pa.array(_nullable(rng, rng.random(len(pairs))), pa.float64()),
        "apps": pa.array(rng.integers(0, 50, len(pairs)), pa.int32()),
    })  # fmt: skip


def _entities(rng: np.random.Generator, customers: int, stores: int, days) -> pd.DataFrame:
    n = 60
    # Whole days hit feature timestamps exactly (inclusive bounds) and ttl edges (3 and 10 days later).
    offsets = rng.integers(-2, 26, n) * 24 + rng.choice([0, 0, 0, 6, 13], n)
    frame = pd.DataFrame({
        "customer_id": rng.integers(0, customers, n),
        "row_id": np.arange(n),
        "store_id": rng.integers(0, stores, n),
        "event_timestamp": [START + timedelta(hours=int(h)) for h in offsets],
        "device_id": rng.choice([*DEVICES, None], n),
        "label": rng.random(n) < 0.3,
    })  # fmt: skip
    duplicates = frame.sample(8, random_state=int(rng.integers(1 << 31)))
    return pd.concat([frame, duplicates], ignore_index=True)


def _nullable(rng: np.random.Generator, values: np.ndarray) -> list:
    return [None if rng.random() < 0.15 else v.item() for v in values]


def _write(directory: Path, table: pa.Table, key: str, rng: np.random.Generator, *, statistics: bool = True) -> None:
    """Replace ``directory`` with the rows sorted by ``key`` in two or three files of tiny row groups."""
    if directory.exists():
        for old in directory.glob("*.parquet"):
            old.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    table = table.sort_by([(key, "ascending")])
    cuts = sorted(rng.choice(np.arange(1, table.num_rows), int(rng.integers(1, 3)), replace=False))
    for part, (lo, hi) in enumerate(zip([0, *cuts], [*cuts, table.num_rows], strict=True)):
        path = directory / f"part-{part}.parquet"
        pq.write_table(table.slice(lo, hi - lo), path, row_group_size=5, write_statistics=statistics)
