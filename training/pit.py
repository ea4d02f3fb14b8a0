"""The point-in-time join of one batch of entity rows, with the semantics of Feast's DuckDB offline store.

For every entity row and feature view: the feature row with the same join keys and the latest event timestamp
at or before the entity row's timestamp, ties on that timestamp going to the latest created timestamp (a null
created timestamp loses a tie); no row when it is older than the view's ttl (``feature_ts + ttl >= entity_ts``;
no ttl: no bound) or when a join key or a timestamp is null.

Per view, only the narrow key and timestamp columns of the row groups the batch can need are read
(:mod:`training.sources`); the as-of match runs on them in NumPy (one sort, one binary search); then the wide
feature columns are read from only the row groups holding picked rows and gathered with one ``take``, so
thousands of features are never sorted, joined or filtered.
"""

from __future__ import annotations

import functools
from datetime import timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from propensity import duck
from propensity.storage import sql_identifier
from training.plan import ENTITY_TIMESTAMP, JoinPlan, ViewPlan
from training.sources import Bounds, ViewFiles, timestamp_micros

_ROW = "__entity_row"
_NULL_CREATED = np.iinfo(np.int64).min  # a null created timestamp sorts first, so it loses a tie
_MAX_CODE = 1 << 62


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
    """One DuckDB connection per worker process, in UTC, one thread (Ray runs a task per CPU)."""
    return duck.connect({"threads": 1})


def join_batch(batch: pa.Table, plan: JoinPlan) -> pa.Table:
    """``batch`` of entity rows (in its order) with the plan's feature columns appended."""
    return PointInTimeJoiner(plan, worker_connection())(batch)


class PointInTimeJoiner:
    """Joins batches of entity rows to the features of a plan."""

    def __init__(self, plan: JoinPlan, con: duckdb.DuckDBPyConnection):
        self.plan = plan
        self.con = con

    def __call__(self, batch: pa.Table) -> pa.Table:
        entities = as_utc(batch)
        out = self._passthrough(entities)
        stamps = _values(entities.column(ENTITY_TIMESTAMP), timestamp_micros(entities.column(ENTITY_TIMESTAMP)))
        columns, names = list(out.columns), list(out.column_names)
        matches = _Matches()
        for view in self.plan.views:
            columns += self._join_view(view, entities, stamps, matches).columns
            names += view.outputs
        return pa.Table.from_arrays(columns, names=names)

    def _passthrough(self, entities: pa.Table) -> pa.Table:
        """The entity columns as DuckDB hands them over (the types Feast's output has)."""
        self.con.register("entities", entities)
        try:
            select = ", ".join(sql_identifier(c) for c in entities.column_names)
            return self.con.sql(f"SELECT {select} FROM entities").to_arrow_table()
        finally:
            self.con.unregister("entities")

    def _join_view(self, view: ViewPlan, entities: pa.Table, stamps: np.ma.MaskedArray, matches: _Matches) -> pa.Table:
        """The view's feature columns for every entity row, in entity row order."""
        source_keys = [view.columns[key] for key in view.join_keys]
        timestamp, created = view.columns[view.timestamp], view.created and view.columns[view.created]
        files = ViewFiles(view.files, timestamp, tuple(source_keys))
        entity_keys = [entities.column(column) for column in view.join_keys.values()]
        ttl = None if view.ttl is None else view.ttl // timedelta(microseconds=1)
        narrow, slots = files.read_narrow(
            list(dict.fromkeys([*source_keys, timestamp, *([created] if created else [])])),
            _bounds(source_keys, entity_keys, stamps, ttl),
        )
        inputs = (
            tuple(view.join_keys.values()),
            ttl,
            narrow.select([*source_keys, timestamp, *filter(None, [created])]),
        )
        picked = matches.get(*inputs)
        if picked is None:
            picked = asof_match(
                entity_keys,
                stamps,
                [narrow.column(key) for key in source_keys],
                _values(narrow.column(timestamp), timestamp_micros(narrow.column(timestamp))),
                _values(narrow.column(created), timestamp_micros(narrow.column(created))) if created else None,
                ttl,
            )
            matches.add(*inputs, picked)
        features = [view.columns[feature] for feature in view.features]
        found = picked >= 0
        picked_slots = np.full(len(picked), -1, dtype=np.int64)
        picked_slots[found] = slots[picked[found]]
        wide, positions = files.read_rows(features, picked_slots)
        taken = take_rows(wide, pa.array(positions, mask=positions < 0))
        return pa.Table.from_arrays(taken.columns, names=list(view.outputs)).cast(view.output_schema)


class _Matches:
    """The as-of matches of one batch's latest views, reused for a view whose narrow columns hold the same values
    in the same order (views built from the same snapshots often do), since the match depends on nothing else."""

    def __init__(self, keep: int = 2):
        self.keep = keep
        self.entries: list[tuple[tuple[str, ...], int | None, pa.Table, np.ndarray]] = []

    def get(self, entity_keys: tuple[str, ...], ttl: int | None, narrow: pa.Table) -> np.ndarray | None:
        for keys, live, seen, picked in self.entries:
            same_shape = keys == entity_keys and live == ttl and seen.num_columns == narrow.num_columns
            if same_shape and all(a.equals(b) for a, b in zip(seen.columns, narrow.columns, strict=True)):
                return picked
        return None

    def add(self, entity_keys: tuple[str, ...], ttl: int | None, narrow: pa.Table, picked: np.ndarray) -> None:
        self.entries = [*self.entries[-(self.keep - 1) :], (entity_keys, ttl, narrow, picked)]


def asof_match(
    entity_keys: list[pa.ChunkedArray],
    entity_stamps: np.ma.MaskedArray,
    keys: list[pa.ChunkedArray],
    stamps: np.ma.MaskedArray,
    created: np.ma.MaskedArray | None,
    ttl: int | None,
) -> np.ndarray:
    """For every entity row, the index of its feature row (-1: none).

    Its feature row has equal keys and the latest timestamp ``<=`` the entity row's (ties: the latest created
    timestamp, nulls losing), and, with a ``ttl`` (in the timestamps' unit), a timestamp ``>=`` the entity row's
    minus the ttl. Rows with a null key or timestamp match nothing.
    """
    entity_codes, codes = _key_codes(entity_keys, keys)
    live = ~(np.ma.getmaskarray(codes) | np.ma.getmaskarray(stamps))
    rows = np.flatnonzero(live)
    code, stamp = codes.data[rows], stamps.data[rows]
    wanted = ~(np.ma.getmaskarray(entity_codes) | np.ma.getmaskarray(entity_stamps))
    result = np.full(len(entity_stamps), -1, dtype=np.int64)
    if not len(rows) or not wanted.any():
        return result
    entity_code, entity_stamp = entity_codes.data[wanted], entity_stamps.data[wanted]
    composite, entity_composite = _composite(code, stamp, entity_code, entity_stamp)
    tie = np.zeros(len(rows), np.int64) if created is None else created.filled(_NULL_CREATED)[rows]
    order = np.lexsort((tie, composite))
    composite = composite[order]
    last = np.append(composite[1:] != composite[:-1], True)  # the winner of each (key, timestamp) run
    order, composite = order[last], composite[last]
    at = np.searchsorted(composite, entity_composite, side="right") - 1
    hit = at >= 0
    candidate = order[np.maximum(at, 0)]
    hit &= code[candidate] == entity_code
    if ttl is not None:
        hit &= stamp[candidate] >= entity_stamp - ttl
    result[wanted] = np.where(hit, rows[candidate], -1)
    return result


def _key_codes(
    entity_keys: list[pa.ChunkedArray], keys: list[pa.ChunkedArray]
) -> tuple[np.ma.MaskedArray, np.ma.MaskedArray]:
    """One int64 code per row for the tuple of join keys, equal exactly when the keys are equal (masked: a
    null key)."""
    split = len(entity_keys[0])
    combined: np.ma.MaskedArray | None = None
    cardinality = 1
    for entity_key, key in zip(entity_keys, keys, strict=True):
        both = pa.concat_arrays([_one_array(entity_key), _one_array(key).cast(entity_key.type)])
        if len(entity_keys) == 1 and pa.types.is_integer(both.type):
            values = _values(both, both.cast(pa.int64()))
            return values[:split], values[split:]
        encoded = pc.dictionary_encode(both)
        code = _values(both, encoded.indices.cast(pa.int64()))
        size = max(len(encoded.dictionary), 1)
        if combined is None:
            combined, cardinality = code, size
            continue
        if cardinality * size >= _MAX_CODE:
            distinct, dense = np.unique(combined.data, return_inverse=True)
            combined, cardinality = np.ma.array(dense.astype(np.int64), mask=combined.mask), len(distinct)
        combined = combined * size + code
        cardinality *= size
    assert combined is not None
    return combined[:split], combined[split:]


def _composite(
    code: np.ndarray, stamp: np.ndarray, entity_code: np.ndarray, entity_stamp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Single int64 values ordered as (key code, timestamp) pairs, for the feature rows and the entity rows."""
    low_code, high_code = min(code.min(), entity_code.min()), max(code.max(), entity_code.max())
    low_stamp, high_stamp = min(stamp.min(), entity_stamp.min()), max(stamp.max(), entity_stamp.max())
    span = int(high_stamp) - int(low_stamp) + 1
    if (int(high_code) - int(low_code) + 1) * span < _MAX_CODE:
        pack = lambda c, s: (c - low_code) * span + (s - low_stamp)  # noqa: E731
        return pack(code, stamp), pack(entity_code, entity_stamp)
    code_rank = np.unique(np.concatenate([code, entity_code]), return_inverse=True)[1]
    distinct_stamps, stamp_rank = np.unique(np.concatenate([stamp, entity_stamp]), return_inverse=True)
    composite = code_rank.astype(np.int64) * len(distinct_stamps) + stamp_rank
    return composite[: len(code)], composite[len(code) :]


def _bounds(
    source_keys: list[str], entity_keys: list[pa.ChunkedArray], stamps: np.ma.MaskedArray, ttl: int | None
) -> Bounds:
    """The timestamps and integer key ranges the batch's entity rows can match."""
    live = stamps.compressed()
    if not len(live):
        return Bounds(first=0, last=-1, keys={})  # nothing can match
    ranges = {}
    for column, key in zip(source_keys, entity_keys, strict=True):
        if pa.types.is_integer(key.type) and key.null_count < len(key):
            low, high = pc.min_max(key).values()
            ranges[column] = (low.as_py(), high.as_py())
    first = None if ttl is None else int(live.min()) - ttl
    return Bounds(first=first, last=int(live.max()), keys=ranges)


def _values(column: pa.ChunkedArray | pa.Array, numbers: pa.Array) -> np.ma.MaskedArray:
    """``numbers`` (int64, aligned with ``column``) as a masked NumPy array, masked where ``column`` is null."""
    data = numbers.fill_null(0).to_numpy(zero_copy_only=False)
    return np.ma.array(data, mask=np.asarray(pc.is_null(column)) if column.null_count else False)


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
