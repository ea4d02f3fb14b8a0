"""The slices of a feature build, computed as Ray tasks: one task per bucket of customers and batch of snapshot
dates, each with a DuckDB of its own (one thread, a memory limit) that reads only its customers' raw rows and
writes their files into the build's staging tree. The driver plans the slices and commits the tree
(:mod:`propensity.features.pipeline`); nothing but row counts comes back to it.

A slice's output depends on nothing but its inputs: the same files come out whatever the number of workers or
nodes, and a slice run again (Ray retries a task whose worker died) writes the same files again, each atomically.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from ray.remote_function import RemoteFunction

from propensity.config import Workspace
from propensity.datagen.raw_views import connect_raw
from propensity.datagen.schema import CHUNKED_TABLES, RAW_SCHEMAS, TIMESTAMP
from propensity.errors import BadInputError, DamagedDataError
from propensity.features.catalog import View
from propensity.features.embedding import customer_embeddings
from propensity.features.offline_store import REBUILD, OfflineStore, month_of
from propensity.features.raw_split import bucket_dir, raw_pieces, split_task, write_schema_files
from propensity.features.schemas import view_schema
from propensity.features.sql import daily_facts, profile_query, windowed_query
from propensity.features.wide import LongTable
from propensity.progress import Progress
from propensity.raysession import node_memories
from propensity.storage import SortedParquetWriter, check_parquet_files, link_file

ROW_GROUP_ROWS = 65_536  # at most; a row group also ends at a snapshot date once it holds MIN_GROUP_ROWS,
MIN_GROUP_ROWS = 8_192  # so readers of some dates skip the others (small buckets: a few dates per row group)


@dataclass(frozen=True)
class BuildPlan:
    """What every slice of one build shares: the workspace and its views, the bucket count, the days of raw
    events read (``[since, until)``), the snapshot cadence, the rows' creation time, the ``as_of`` date of a
    daily build, the staging tree, and each task's memory."""

    ws: Workspace
    views: tuple[View, ...]
    buckets: int
    since: date
    until: date
    cadence_days: int
    created: datetime
    as_of: date | None
    staging: Path
    task_memory_gib: float

    @property
    def split(self) -> Path:
        """The raw rows split by bucket (:mod:`propensity.features.raw_split`), removed with the staging tree."""
        return self.staging / ".raw"


@dataclass(frozen=True)
class Slice:
    """One task's share of a build: the customers of ``bucket`` at the snapshot ``dates``, which fall in
    ``months``."""

    bucket: int
    dates: tuple[date, ...]
    months: tuple[str, ...]


def build_slices(
    plan: BuildPlan, slices: list[Slice], products: pa.Table, workers: int, progress: Progress | None = None
) -> dict[str, int]:
    """Split the raw rows by bucket, then run every slice, as Ray tasks, at most ``workers`` at a time; the rows
    written per view. On an error the tasks still running are cancelled and the error raised (the caller's
    staging tree goes, unpublished, the split with it)."""
    pieces = raw_pieces(plan.ws.raw_dir)
    write_schema_files(plan.split, plan.buckets)
    shared = ray.put(products)
    task = _build_slice.options(memory=int(plan.task_memory_gib * 2**30))
    calls = [(split_task, (piece, plan.buckets, plan.split)) for piece in pieces]
    _run_bounded(calls, workers, progress, total=len(pieces) + len(slices))
    calls = [(task, (plan, piece, shared)) for piece in slices]
    rows = {view.name: 0 for view in plan.views}
    for counts in _run_bounded(calls, workers, progress, total=len(pieces) + len(slices), before=len(pieces)):
        for view, count in counts.items():
            rows[view] += count
    return rows


def _run_bounded(
    calls: list[tuple[RemoteFunction, tuple]],
    workers: int,
    progress: Progress | None,
    *,
    total: int,
    before: int = 0,
) -> list[Any]:
    """Run the remote ``calls`` (function, arguments), at most ``workers`` at a time; their results, in the order
    they finished, each counted on ``progress`` (``before`` of ``total`` done when they start). On an error the
    calls still running are cancelled."""
    pending = list(reversed(calls))
    running: list[ray.ObjectRef] = []
    results = []
    try:
        while pending or running:
            while pending and len(running) < workers:
                function, arguments = pending.pop()
                running.append(function.remote(*arguments))
            finished, running = ray.wait(running, num_returns=1)
            results.append(ray.get(finished[0]))
            if progress:
                progress(before + len(results), total)
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
    return results


def check_task_memory(gib: float) -> None:
    """Refuse a task memory no node of the Ray cluster can give (Ray would wait for such a node for ever)."""
    largest = max(node_memories(), default=0.0)
    if gib * 2**30 > largest:
        raise BadInputError(
            f"`task_memory_gib` {gib:g} is more than any Ray node can give a task ({largest / 2**30:.1f} GiB): "
            "lower it, or add bigger nodes"
        )


def build_slice(plan: BuildPlan, piece: Slice, products: pa.Table) -> dict[str, int]:
    """Compute one slice, a snapshot date at a time, and write its files into the staging tree; the rows written
    per view. Memory follows one date's rows: each month's files are written as its dates are computed."""
    spill = OfflineStore(plan.ws).scratch / f"spill-{uuid.uuid4().hex[:12]}"
    settings = {"threads": 1, "memory_limit": f"{plan.task_memory_gib}GiB", "temp_directory": str(spill)}
    con = connect_raw(
        plan.ws, settings, {table: bucket_dir(plan.split, table, piece.bucket) for table in CHUNKED_TABLES}
    )
    try:
        raw = {name: f"raw_{name}" for name in RAW_SCHEMAS}
        con.execute(f"CREATE TEMP TABLE facts AS {daily_facts(raw, str(plan.since), str(plan.until))}")
        rows = {view.name: 0 for view in plan.views}
        for month in piece.months:
            with ExitStack() as stack:
                files = {view.name: stack.enter_context(_month_file(plan, piece.bucket, month, view))
                         for view in plan.views}  # fmt: skip
                for day in (d for d in piece.dates if month_of(d) == month):
                    _set_snapshot(con, day)
                    for view, table in _view_tables(con, plan, products):
                        files[view].write(table.append_column("created_at", _constant(plan.created, table.num_rows)))
            for view, file in files.items():
                rows[view] += file.rows
        return rows
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


_build_slice = ray.remote(num_cpus=1)(build_slice)


def _set_snapshot(con: duckdb.DuckDBPyConnection, day: date) -> None:
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE snapshots AS
            SELECT (DATE '{day.isoformat()}' - DATE '1970-01-01')::INTEGER AS snap,
                   DATE '{day.isoformat()}'::TIMESTAMPTZ AS event_timestamp"""
    )


def _constant(value: datetime, rows: int) -> pa.Array:
    return pa.array([value] * rows, type=TIMESTAMP)


def _view_tables(con: duckdb.DuckDBPyConnection, plan: BuildPlan, products: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """Every view's rows for the slice's customers (those of the raw relations) at the snapshot of relation
    ``snapshots``, sorted by customer."""
    grace_days = plan.cadence_days
    sparse = tuple(v for v in plan.views if not v.dense and not v.is_embedding)
    long = LongTable(
        con.sql(windowed_query(sparse, facts="facts", snapshots="snapshots", grace_days=grace_days)).to_arrow_table()
    )
    for view in plan.views:
        if view.is_embedding:
            yield view.name, customer_embeddings(con, products, grace_days=grace_days)
        elif view.dense:
            query = profile_query(view, snapshots="snapshots", customers="raw_customers")
            yield view.name, con.sql(query).to_arrow_table()
        else:
            yield view.name, long.widen(view)


def _month_file(plan: BuildPlan, bucket: int, month: str, view: View) -> SortedParquetWriter:
    """The staged file of ``view``'s rows of the bucket in ``month``, written as the month's dates come.

    Without ``as_of`` the month's bucket file is replaced whole. With it the rows go to the date's own file and the
    bucket's other published files of the month are carried over (see :mod:`propensity.features.pipeline`).
    """
    month_dir = plan.staging / view.name / month
    base = f"bucket-{bucket:04d}"
    name = f"{base}.parquet"
    if plan.as_of is not None:
        _carry_over(OfflineStore(plan.ws).view_dir(view.name) / month, month_dir, base, plan.as_of, view_schema(view))
        name = f"{base}.{plan.as_of}.parquet"
    return _sorted_writer(month_dir / name)


def _sorted_writer(path: Path) -> SortedParquetWriter:
    """A writer of a view's file: rows sorted by snapshot then customer, a row group per snapshot date (dates of
    fewer than ``MIN_GROUP_ROWS`` rows share one), so readers of some dates skip the others."""
    return SortedParquetWriter(
        path, group_by="event_timestamp", row_group_size=ROW_GROUP_ROWS, min_group_rows=MIN_GROUP_ROWS
    )


def _carry_over(published: Path, staged: Path, base: str, as_of: date, schema: pa.Schema) -> None:
    """Bring the bucket's published files of a month, less the rows of ``as_of``, into its staged month: hard
    links, except a full build's file that holds ``as_of`` (rewritten without it)."""
    for file in sorted(published.glob(f"{base}.*parquet")) if published.is_dir() else []:
        check_parquet_files(file, fix=REBUILD)
        if not pq.read_schema(file).equals(schema):
            raise DamagedDataError(
                f"{file} was built with other features than the catalog has now; "
                "rebuild the whole history with `propensity features build`"
            )
        if file.name == f"{base}.{as_of}.parquet":
            continue  # replaced by this build's rows
        stamps = pq.read_table(file, columns=["event_timestamp"]).column("event_timestamp")
        stale = pa.scalar(datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC), type=TIMESTAMP)
        if pc.any(pc.equal(stamps, stale)).as_py():
            old = pq.read_table(file)
            with _sorted_writer(staged / file.name) as rewritten:
                rewritten.write(old.filter(pc.not_equal(old.column("event_timestamp"), stale)))
        else:
            link_file(file, staged / file.name)
