"""The point-in-time join of one batch of entity rows, in DuckDB, with Feast's semantics.

For every entity row and feature view: the feature row with the same join keys and the latest event timestamp
at or before the entity row's timestamp, ties on that timestamp going to the latest created timestamp; no row
when it is older than the view's ttl (``feature_ts + ttl >= entity_ts``; no ttl: no bound). Only the narrow key
and timestamp columns take part in the as-of join; the wide feature columns of the chosen rows are then read
for the picked snapshot dates only and gathered with one Arrow ``take`` per view, so thousands of features are
never sorted or joined.

Each batch reads only the slice of a source its rows can need: the key range of the batch, times up to its
latest timestamp and, with a ttl, from its earliest timestamp minus the ttl; Parquet statistics let DuckDB skip
the other row groups.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from training.plan import ENTITY_TIMESTAMP, JoinPlan, ViewPlan

_ROW = "__entity_row"
_POS = "__position"
_FILE = "__file"
_FILE_ROW = "__file_row"


def quote(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def as_utc(batch: pa.Table) -> pa.Table:
    """Every timestamp column as UTC microseconds (naive ones are taken to be UTC), as Feast's DuckDB store
    coerces entity timestamps."""
    columns = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            column = column if field.type.tz else pc.assume_timezone(column, "UTC")
            column = pc.cast(column, pa.timestamp("us", "UTC"), safe=False)
        columns.append(column)
    return pa.table(columns, names=batch.column_names)


@functools.cache
def worker_connection() -> duckdb.DuckDBPyConnection:
    """One DuckDB connection per worker process, in UTC, one thread (Ray runs a task per CPU), caching Parquet
    metadata across the batches the process joins."""
    con = duckdb.connect(config={"threads": 1})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET parquet_metadata_cache = true")
    return con


def join_batch(batch: pa.Table, plan: JoinPlan) -> pa.Table:
    """``batch`` of entity rows (in its order) with the plan's feature columns appended."""
    return PointInTimeJoiner(plan, worker_connection())(batch)


class PointInTimeJoiner:
    """Joins batches of entity rows to the features of a plan on a DuckDB connection."""

    def __init__(self, plan: JoinPlan, con: duckdb.DuckDBPyConnection):
        self.plan = plan
        self.con = con

    def __call__(self, batch: pa.Table) -> pa.Table:
        entities = as_utc(batch).append_column(_ROW, pa.array(np.arange(batch.num_rows, dtype=np.int64)))
        self.con.register("entities", entities)
        try:
            out = self.con.sql(
                f"SELECT {', '.join(quote(c) for c in batch.column_names)} FROM entities ORDER BY {_ROW}"
            ).to_arrow_table()
            columns, names = list(out.columns), list(out.column_names)
            for view in self.plan.views:
                columns += self._join_view(view).columns
                names += view.outputs
            return pa.Table.from_arrays(columns, names=names)
        finally:
            self.con.unregister("entities")

    def _join_view(self, view: ViewPlan) -> pa.Table:
        """The view's feature columns for every entity row, in entity row order.

        First an as-of join over the narrow key and timestamp columns of the batch's slice picks each entity
        row's source row (by file and row number); then only the snapshot dates picked are read wide, and the
        picked rows are gathered.
        """
        where, params = self._slice(view)
        source = f"read_parquet($path, filename = true, file_row_number = true) WHERE {where}"
        narrow = [c for c in (*view.join_keys, view.timestamp, view.created) if c]
        candidates = self.con.sql(
            f"SELECT {_select(view, narrow)}, filename AS {_FILE}, file_row_number AS {_FILE_ROW} FROM {source}",
            params=params,
        ).to_arrow_table()
        self.con.register("candidates", candidates)
        try:
            picked = self.con.sql(_asof_query(view)).to_arrow_table()
        finally:
            self.con.unregister("candidates")
        stamps = pc.unique(picked.column(view.timestamp).drop_null())
        chosen_dates = f"{quote(view.columns[view.timestamp])}::TIMESTAMPTZ IN (SELECT unnest($stamps))"
        wide = self.con.sql(
            f"SELECT {_select(view, view.features)}, "
            f"filename AS {_FILE}, file_row_number AS {_FILE_ROW} FROM {source} AND {chosen_dates}",
            params={**params, "stamps": stamps.to_pylist()},
        ).to_arrow_table()
        rows = wide.select([_FILE, _FILE_ROW]).append_column(_POS, pa.array(np.arange(wide.num_rows)))
        self.con.register("picked", picked)
        self.con.register("wide_rows", rows)
        try:
            positions = self.con.sql(
                f"SELECT w.{_POS} FROM picked p LEFT JOIN wide_rows w USING ({_FILE}, {_FILE_ROW}) ORDER BY p.{_ROW}"
            ).to_arrow_table()
        finally:
            self.con.unregister("picked")
            self.con.unregister("wide_rows")
        return take_rows(wide.select(list(view.features)), positions.column(0))

    def _slice(self, view: ViewPlan) -> tuple[str, dict[str, object]]:
        """The filter (and its parameters) of the source rows this batch can match: the batch's range of each
        join key, times up to its latest timestamp and, with a ttl, from its earliest minus the ttl."""
        ranges = [f"min({quote(col)}), max({quote(col)})" for col in view.join_keys.values()]
        stamp = quote(ENTITY_TIMESTAMP)
        values = self.con.execute(f"SELECT {', '.join(ranges)}, min({stamp}), max({stamp}) FROM entities").fetchall()
        *bounds, first, last = values[0]
        params: dict[str, object] = {"path": [view.path], "last": last}
        where = [f"{quote(view.columns[view.timestamp])}::TIMESTAMPTZ <= $last"]
        for i, key in enumerate(view.join_keys):
            where.append(f"{quote(view.columns[key])} BETWEEN $lo{i} AND $hi{i}")
            params |= {f"lo{i}": bounds[2 * i], f"hi{i}": bounds[2 * i + 1]}
        if view.ttl is not None and first is not None:
            where.append(f"{quote(view.columns[view.timestamp])}::TIMESTAMPTZ >= $first")
            params["first"] = first - view.ttl
        return " AND ".join(where), params


def take_rows(table: pa.Table, indices: pa.ChunkedArray | pa.Array) -> pa.Table:
    """``table.take(indices)``, where a null index gives a row of nulls.

    Arrow's take slows down several-fold once the indices hold nulls; for fixed-width columns this takes with
    the nulls filled instead and then sets the validity bitmap of the result directly.
    """
    indices = _one_array(indices)
    if indices.null_count == 0 or table.num_rows == 0:
        return table.take(indices)
    present = pc.is_valid(indices)
    filled = indices.fill_null(0)
    columns = []
    for column in table.columns:
        if not _fixed_width(column.type):
            columns.append(column.take(indices))
            continue
        taken = _one_array(column).take(filled)
        valid = present if taken.null_count == 0 else pc.and_(present, pc.is_valid(taken))
        columns.append(pa.Array.from_buffers(taken.type, len(taken), [valid.buffers()[1], taken.buffers()[1]]))
    return pa.Table.from_arrays(columns, schema=table.schema)


def _one_array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``column`` as one array, without a copy when it already is one chunk."""
    if isinstance(column, pa.Array):
        return column
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _fixed_width(type_: pa.DataType) -> bool:
    """Whether arrays of ``type_`` are one validity bitmap and one buffer of fixed-width values."""
    return pa.types.is_primitive(type_) and not pa.types.is_boolean(type_) and not pa.types.is_null(type_)


def _select(view: ViewPlan, names: Iterable[str]) -> str:
    """The source columns of ``names`` under those names, timestamps as UTC."""
    stamps = {view.timestamp, view.created}
    return ", ".join(
        f"{quote(view.columns[name])}{'::TIMESTAMPTZ' if name in stamps else ''} AS {quote(name)}" for name in names
    )


def _asof_query(view: ViewPlan) -> str:
    """Per entity row, in entity row order: the file, row number and timestamp of its match (nulls: none)."""
    keys = [quote(key) for key in view.join_keys]
    ts = quote(view.timestamp)
    order = f"ORDER BY {quote(view.created)} DESC" if view.created else ""
    latest = (
        f"SELECT {', '.join(keys)}, {ts}, {_FILE}, {_FILE_ROW} FROM candidates "
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)}, {ts} {order}) = 1"
    )
    on = " AND ".join(f"e.{quote(ent)} = f.{quote(key)}" for key, ent in view.join_keys.items())
    entity_ts = f"e.{quote(ENTITY_TIMESTAMP)}"
    live = f"f.{ts} + to_microseconds({_micros(view)}) >= {entity_ts}" if view.ttl is not None else "true"
    return (
        f"SELECT e.{_ROW}, "
        + ", ".join(f"CASE WHEN {live} THEN f.{c} END AS {c}" for c in (ts, _FILE, _FILE_ROW))
        + f" FROM entities e ASOF LEFT JOIN ({latest}) f ON {on} AND {entity_ts} >= f.{ts}"
    )


def _micros(view: ViewPlan) -> int:
    assert view.ttl is not None
    return view.ttl // timedelta(microseconds=1)
