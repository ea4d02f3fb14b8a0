"""The point-in-time join of one batch of entity rows, in DuckDB, with Feast's semantics.

For every entity row and feature view: the feature row with the same join keys and the latest event timestamp
at or before the entity row's timestamp, ties on that timestamp going to the latest created timestamp; no row
when it is older than the view's ttl (``feature_ts + ttl >= entity_ts``; no ttl: no bound). Only the narrow key
and timestamp columns take part in the as-of join; the wide feature columns of the chosen rows are then
gathered with one Arrow ``take`` per view, so thousands of features are never sorted or joined.

Each batch reads only the slice of a source its rows can need: the key range of the batch (row groups of
sources sorted by key are skipped from their statistics), times up to the batch's latest timestamp and, with a
ttl, from its earliest timestamp minus the ttl.
"""

from __future__ import annotations

import functools
from datetime import timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from training.plan import ENTITY_TIMESTAMP, JoinPlan, ViewPlan

_ROW = "__entity_row"
_POS = "__feature_row"


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
            for view in self.plan.views:
                features = self._join_view(view)
                for name, column in zip(view.outputs, features.columns, strict=True):
                    out = out.append_column(name, column)
            return out
        finally:
            self.con.unregister("entities")

    def _join_view(self, view: ViewPlan) -> pa.Table:
        """The view's feature columns for every entity row, in entity row order."""
        rows = self._read_slice(view)
        rows = rows.append_column(_POS, pa.array(np.arange(rows.num_rows, dtype=np.int64)))
        self.con.register("feature_rows", rows)
        try:
            positions = self.con.sql(_asof_query(view)).to_arrow_table().column(0)
        finally:
            self.con.unregister("feature_rows")
        return rows.select(list(view.features)).take(positions)

    def _read_slice(self, view: ViewPlan) -> pa.Table:
        """Join keys, timestamps and features of the source rows this batch can match."""
        bounds = {
            key: self.con.execute(f"SELECT min({quote(col)}), max({quote(col)}) FROM entities").fetchall()[0]
            for key, col in view.join_keys.items()
        }
        first, last = self.con.execute(
            f"SELECT min({quote(ENTITY_TIMESTAMP)}), max({quote(ENTITY_TIMESTAMP)}) FROM entities"
        ).fetchall()[0]
        if last is None or any(lo is None for lo, _ in bounds.values()):
            return _empty_slice(self.con, view)
        timestamp = f"{quote(view.columns[view.timestamp])}::TIMESTAMPTZ"
        where = [f"{quote(view.columns[key])} BETWEEN ? AND ?" for key in bounds] + [f"{timestamp} <= ?"]
        params: list[object] = [v for pair in bounds.values() for v in pair] + [last]
        if view.ttl is not None:
            where.append(f"{timestamp} >= ?")
            params.append(first - view.ttl)
        query = f"SELECT {_select(view)} FROM read_parquet(?) WHERE {' AND '.join(where)}"
        return self.con.sql(query, params=[[view.path], *params]).to_arrow_table()


def _select(view: ViewPlan) -> str:
    """The source columns under the names the view uses, timestamps as UTC."""
    stamps = {view.timestamp, view.created}
    return ", ".join(
        f"{quote(column)}::TIMESTAMPTZ AS {quote(name)}" if name in stamps else f"{quote(column)} AS {quote(name)}"
        for name, column in view.columns.items()
    )


def _empty_slice(con: duckdb.DuckDBPyConnection, view: ViewPlan) -> pa.Table:
    return con.sql(f"SELECT {_select(view)} FROM read_parquet(?) LIMIT 0", params=[[view.path]]).to_arrow_table()


def _asof_query(view: ViewPlan) -> str:
    """Position in ``feature_rows`` of each entity row's match (null: none), in entity row order."""
    keys = [quote(key) for key in view.join_keys]
    ts = quote(view.timestamp)
    order = f"ORDER BY {quote(view.created)} DESC" if view.created else ""
    latest = (
        f"SELECT {', '.join(keys)}, {ts}, {_POS} FROM feature_rows "
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)}, {ts} {order}) = 1"
    )
    on = " AND ".join(f"e.{quote(ent)} = f.{quote(key)}" for key, ent in view.join_keys.items())
    entity_ts = f"e.{quote(ENTITY_TIMESTAMP)}"
    expired = f"f.{ts} + to_microseconds({_micros(view)}) < {entity_ts}" if view.ttl is not None else "false"
    return (
        f"SELECT CASE WHEN {expired} THEN NULL ELSE f.{_POS} END FROM entities e "
        f"ASOF LEFT JOIN ({latest}) f ON {on} AND {entity_ts} >= f.{ts} ORDER BY e.{_ROW}"
    )


def _micros(view: ViewPlan) -> int:
    assert view.ttl is not None
    return view.ttl // timedelta(microseconds=1)
