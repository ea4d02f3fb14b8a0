"""Building the offline store: feature snapshots computed by DuckDB in Ray tasks and written as Parquet.

Layout (documented in docs/FEATURES.md)::

    offline/_layout.json                                    bucket count, fixed at the first build
    offline/<view>/schema.parquet                                 the view's columns and no rows (every view)
    offline/<view>/<YYYY-MM>/bucket-<bbbb>.parquet                a full build's snapshots of the month
    offline/<view>/<YYYY-MM>/bucket-<bbbb>.<YYYY-MM-DD>.parquet   an ``--as-of`` build's snapshot of one date
    offline/<view>/_manifest.json, offline/<view>/<YYYY-MM>/_manifest.json   what was published (features/manifest.py)

b = customer_id mod buckets. A file holds snapshots of one slice of customers, sorted by snapshot time then
customer, with a row group per snapshot date (split beyond 65,536 rows; dates of fewer than 8,192 rows share
one), so a reader of some dates reads little more than their rows (the training-set join does); a Ray task
reads one slice with ``offline/<view>/*/bucket-<bbbb>*.parquet``. Ray tasks write the months a build touches
into ``offline/.staging`` (:mod:`propensity.features.slices`); once every task is done each month is renamed into
place whole. A full build rewrites its months; an ``--as-of`` build writes
its date's file and hard-links the month's other files into the staged month (a daily build costs one snapshot,
not a month of them), so re-building a date replaces its rows, a new date is added, and a crash never leaves
half a month visible; the whole build is one commit to the store (:mod:`propensity.features.offline_store`), mirrored
to the object store when it ends. One build runs at a time per workspace (a file lock).

Every view's dataset, the scores view's included, holds a schema file from the first build on: no rows, the
columns its data files have (:mod:`propensity.features.schemas`). A view without data yet, such as the scores
before the first `propensity score`, is thus an empty dataset to every reader (Feast's materialize and retrieval,
the training-set join, `features check`, the object-store mirror), never a missing one; analytics lists a view once
it has snapshot directories.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa
from filelock import FileLock

from propensity.config import Workspace
from propensity.datagen.raw_views import connect_raw, data_range
from propensity.datagen.schema import RAW_SCHEMAS
from propensity.errors import BadInputError, DamagedDataError
from propensity.features.catalog import GRID_ANCHOR, HISTORY_DAYS, workspace_catalog
from propensity.features.config import BuildConfig
from propensity.features.embedding import check_descriptions, embed_products
from propensity.features.offline_store import OfflineStore, month_of
from propensity.features.schemas import dataset_schemas
from propensity.features.slices import BuildPlan, Slice, build_slices, check_task_memory
from propensity.progress import Progress
from propensity.raysession import cluster_cpus

CUSTOMERS_PER_BUCKET = 50_000
FIRST_RAW_DATE = date(1990, 1, 1)  # raw timestamps before it, or after tomorrow, are refused (docs/DATA.md)
MAX_RAW_VALUE = 1e12  # larger amounts or durations in raw data are unit or parsing errors


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote."""

    dates: list[date]
    rows: dict[str, int]  # per view
    anomalies: dict[str, int] = field(default_factory=dict)  # suspicious raw rows kept, by kind (raw_anomalies)


def check_raw_values(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse raw numbers that would poison the features: NaN, infinities or magnitudes beyond ``MAX_RAW_VALUE``
    (a unit or parsing error upstream), with the table, the column and how many."""
    for name, bad in _rows_failing(con, pa.types.is_floating, 'NOT (abs("{c}") <= ' + f"{MAX_RAW_VALUE})", []):
        detail = ", ".join(f"{column!r}: {n:,}" for column, n in bad.items())
        raise DamagedDataError(
            f"raw table {name!r} has values that are NaN, infinite or beyond ±{MAX_RAW_VALUE:.0e} ({detail}); "
            "fix them at the source (nulls are allowed for unknown values)"
        )


def check_raw_dates(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse raw timestamps before ``FIRST_RAW_DATE`` or after tomorrow (a clock, unit or parsing error upstream:
    one such row would make a build plan snapshots over centuries), with the table, the column and how many."""
    latest = datetime.now(UTC).date() + timedelta(days=1)
    outside = '"{c}"::DATE < ? OR "{c}"::DATE > ?'
    for name, bad in _rows_failing(con, pa.types.is_timestamp, outside, [FIRST_RAW_DATE, latest]):
        detail = ", ".join(f"{column!r}: {n:,} row(s)" for column, n in bad.items())
        raise DamagedDataError(
            f"raw table {name!r} has timestamps outside {FIRST_RAW_DATE} .. {latest} ({detail}); "
            "fix them at the source (nulls are allowed for unknown times)"
        )


def _rows_failing(
    con: duckdb.DuckDBPyConnection, kind: Callable[[pa.DataType], bool], condition: str, params: list[object]
) -> Iterator[tuple[str, dict[str, int]]]:
    """Per raw table, the columns of ``kind`` with rows matching ``condition`` (``{c}`` names the column; it takes
    ``params``) and how many; tables without such rows are left out. One scan per table."""
    for name, schema in RAW_SCHEMAS.items():
        columns = [f.name for f in schema if kind(f.type)]
        if not columns:
            continue
        filters = ", ".join(f"count(*) FILTER ({condition.format(c=c)})" for c in columns)
        counts = con.execute(f"SELECT {filters} FROM raw_{name}", params * len(columns)).fetchall()[0]
        bad = {column: n for column, n in zip(columns, counts, strict=True) if n}
        if bad:
            yield name, bad


def raw_anomalies(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows of the raw tables that are suspicious but kept, counted for the build's report (docs/DATA.md): rows
    without a customer id (in no customer's features: no bucket holds them), order ids used more than once (each
    row counts), negative amounts (counted as they are, e.g. returns). Only the kinds found."""
    counts: dict[str, int] = {}
    for name, schema in RAW_SCHEMAS.items():
        columns = set(schema.names)
        if "customer_id" in columns:
            counts[f"{name}: rows without customer_id"] = _count(
                con, f"SELECT count(*) FROM raw_{name} WHERE customer_id IS NULL"
            )
        for column in sorted(columns & {"amount", "net_amount"}):
            counts[f"{name}: negative {column}"] = _count(con, f'SELECT count(*) FROM raw_{name} WHERE "{column}" < 0')
    counts["orders: extra rows of a repeated order_id"] = _count(
        con, "SELECT count(*) - count(DISTINCT order_id) FROM raw_orders WHERE order_id IS NOT NULL"
    )
    return {kind: n for kind, n in counts.items() if n}


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    return con.execute(query).fetchall()[0][0]


def snapshot_dates(first: date, last: date, cadence_days: int) -> list[date]:
    """Snapshot dates over the whole history: a fixed grid (Mondays for weekly) after the first event, plus the
    day after the last event, so the latest snapshot sees all data."""
    offset = (first - GRID_ANCHOR).days % cadence_days
    day = first + timedelta(days=cadence_days - offset) if offset else first + timedelta(days=cadence_days)
    dates = []
    while day <= last:
        dates.append(day)
        day += timedelta(days=cadence_days)
    return [*dates, last + timedelta(days=1)]


def build_features(
    ws: Workspace,
    *,
    as_of: date | None = None,
    since: date | None = None,
    config: BuildConfig | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Compute feature snapshots into the offline store: at ``as_of`` only, or over the whole history (from the
    month of ``since`` on, with it).

    A full build replaces every month it covers (months before ``since`` keep what they have); an ``as_of`` build
    replaces that date and keeps the other dates of its month. Product text embeddings come from a Ray Data job
    (cached across builds); the snapshots from Ray tasks, one per bucket of customers and batch of months
    (:mod:`propensity.features.slices`). The months are published together when every task has written its
    part: a failed build publishes nothing.
    """
    config = config or BuildConfig()
    check_task_memory(config.task_memory_gib)
    views = workspace_catalog(ws)
    store = OfflineStore(ws)
    store.root.mkdir(parents=True, exist_ok=True)
    con = connect_raw(ws)
    check_raw_dates(con)
    first, last = data_range(con)
    if as_of is not None and as_of <= first:
        raise BadInputError(f"`as_of` {as_of} is before the data (first event on {first}): pick a later date")
    dates = [as_of] if as_of else snapshot_dates(first, last, config.cadence_days)
    if since is not None:
        dates = _from_month_of(since, dates, as_of)
    check_raw_values(con)
    check_descriptions(con)
    anomalies = raw_anomalies(con)
    with FileLock(store.lock_file("build")), store.commit() as commit:
        products = embed_products(ws, commit)
        buckets = _layout_buckets(store, con, config.buckets)
        months = sorted({month_of(d) for d in dates})
        batches = [months[i : i + config.months_per_batch] for i in range(0, len(months), config.months_per_batch)]
        slices = [
            Slice(bucket, tuple(d for d in dates if month_of(d) in batch), tuple(batch))
            for batch in batches
            for bucket in range(buckets)
        ]
        with commit.months([v.name for v in views], months) as staging:
            plan = BuildPlan(
                ws=ws,
                views=views,
                buckets=buckets,
                since=min(dates) - timedelta(days=HISTORY_DAYS + config.cadence_days),
                until=max(dates),
                cadence_days=config.cadence_days,
                created=datetime.now(UTC),
                as_of=as_of,
                staging=staging,
                task_memory_gib=config.task_memory_gib,
            )
            rows = build_slices(plan, slices, products, config.workers or cluster_cpus(), progress)
        commit.schema_files(dataset_schemas(views))
        return BuildReport(dates=dates, rows=rows, anomalies=anomalies)


def _layout_buckets(store: OfflineStore, con: duckdb.DuckDBPyConnection, requested: int | None) -> int:
    """The bucket count of the offline store: fixed by its first build, refused if a build asks for another. By
    default one per ``CUSTOMERS_PER_BUCKET`` customers, and at least one per CPU of the cluster (so a small
    workspace's daily build uses every core), never more than there are customers."""
    path = store.layout_file
    if path.is_file():
        buckets = json.loads(path.read_text())["buckets"]
        if requested is not None and requested != buckets:
            raise BadInputError(
                f"the offline store in {store.root} is laid out in {buckets} buckets, not {requested}; "
                f"delete it to change the layout"
            )
        return buckets
    customers = con.execute("SELECT count(*) FROM raw_customers").fetchall()[0][0]
    buckets = requested or max(1, -(-customers // CUSTOMERS_PER_BUCKET), min(cluster_cpus(), customers))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"buckets": buckets, "key": "customer_id mod buckets"}) + "\n")
    tmp.rename(path)
    return buckets


def _from_month_of(since: date, dates: list[date], as_of: date | None) -> list[date]:
    """The snapshot ``dates`` from the month of ``since`` on (whole months, so a build never drops a month's
    earlier dates); refused with ``as_of``, or when no date is left."""
    if as_of is not None:
        raise BadInputError("`as_of` and `since` exclude each other: build one date, or the months from a date on")
    kept = [d for d in dates if month_of(d) >= month_of(since)]
    if not kept:
        raise BadInputError(f"`since` {since} is after the last snapshot date ({dates[-1]}): pick an earlier date")
    return kept
