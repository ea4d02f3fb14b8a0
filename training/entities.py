"""The entity rows of a training set: any accepted input, cut into slices that the join tasks load themselves.

An in-memory input (pandas, Arrow) is sorted on the driver, which holds it already, and its slices go to the
object store. A Parquet input is sliced by row ranges of its files' row groups, read by the tasks, and a Ray
Dataset by its blocks; when those need sorting, a sample sort in Ray tasks range-partitions them (each piece
sorted and sampled, boundaries picked from the samples, each piece cut at them, each slice merged from its
parts). The driver never reads rows it was not handed, only samples of the sort columns.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import ray
import ray.data

from training.plan import ENTITY_TIMESTAMP, TrainingSetError
from training.sources import footer, parquet_files, read_row_groups

EntityInput = pd.DataFrame | pa.Table | ray.data.Dataset | str | Path
SAMPLE_ROWS = 1_000  # per piece, to choose the sample sort's boundaries


@dataclass(frozen=True)
class FileSpan:
    """Rows ``[skip, skip + rows)`` of the given row groups of a Parquet file."""

    path: str
    row_groups: tuple[int, ...]
    skip: int
    rows: int


@dataclass(frozen=True)
class EntitySlice:
    """One join task's entity rows: an Arrow table in the object store, spans of Parquet files, or sorted parts
    of a sample sort (merged by ``sort_by``)."""

    table: ray.ObjectRef | None = None
    spans: tuple[FileSpan, ...] = ()
    parts: tuple[ray.ObjectRef, ...] = ()
    sort_by: tuple[str, ...] = ()

    def load(self) -> pa.Table:
        """The rows, in order (inside a Ray task)."""
        if self.table is not None:
            return ray.get(self.table)
        if self.parts:
            return _sorted(pa.concat_tables(ray.get(list(self.parts))), self.sort_by)
        parts = [read_row_groups(s.path, list(s.row_groups)).slice(s.skip, s.rows) for s in self.spans]
        return pa.concat_tables(parts)


class EntityRows:
    """Entity rows from a DataFrame, Arrow table, Ray Dataset or Parquet path, with their schema and count."""

    def __init__(self, entity_df: EntityInput):
        self._table: pa.Table | None = None
        self._dataset: ray.data.Dataset | None = None
        self._files: tuple[str, ...] = ()
        if isinstance(entity_df, pd.DataFrame):
            entity_df = pa.Table.from_pandas(_parse_timestamps(entity_df), preserve_index=False)
        if isinstance(entity_df, pa.Table):
            self._table = entity_df
            self.schema, self.num_rows = entity_df.schema, entity_df.num_rows
        elif isinstance(entity_df, ray.data.Dataset):
            self._dataset = entity_df
            self.schema, self.num_rows = _arrow_schema(entity_df), entity_df.count()
        elif isinstance(entity_df, str | Path):
            path = str(entity_df) if "://" in str(entity_df) else str(Path(entity_df).expanduser().resolve())
            self._files = parquet_files(path)
            if not self._files:
                raise TrainingSetError(f"entity_df: no such Parquet file or directory: {entity_df}")
            self.schema = footer(self._files[0]).schema
            self.num_rows = sum(footer(f).metadata.num_rows for f in self._files)
        else:
            raise TrainingSetError(
                "entity_df must be a pandas DataFrame, Arrow table, Ray Dataset or Parquet path, "
                f"not {type(entity_df).__name__}"
            )

    def slices(self, count: int, sort_by: list[str] | None) -> list[EntitySlice]:
        """The rows in ``count`` slices of (nearly) equal size, sorted by ``sort_by`` first when given."""
        size = math.ceil(self.num_rows / count)
        if self._table is not None:
            table = _sorted(self._table, sort_by) if sort_by else self._table
            return [EntitySlice(table=ray.put(s)) for s in _cut(table, size)]
        if self._files:
            pieces = _file_slices(self._files, size)
        else:
            dataset = self._dataset if sort_by else self._dataset.repartition(count)
            pieces = [EntitySlice(table=ref) for ref in dataset.to_arrow_refs()]
        return _sample_sort(pieces, count, tuple(sort_by)) if sort_by else pieces


def _cut(table: pa.Table, size: int) -> list[pa.Table]:
    return [table.slice(start, size) for start in range(0, table.num_rows, size)]


def _sorted(table: pa.Table, sort_by: list[str] | tuple[str, ...]) -> pa.Table:
    return table.sort_by([(column, "ascending") for column in sort_by])


def _sample_sort(pieces: list[EntitySlice], count: int, sort_by: tuple[str, ...]) -> list[EntitySlice]:
    """The rows of ``pieces`` range-partitioned by ``sort_by`` into ``count`` slices, in order."""
    sorted_pieces = [_sort_and_sample.options(num_returns=2).remote(piece, sort_by) for piece in pieces]
    samples = _sorted(pa.concat_tables(ray.get([sample for sample, _ in sorted_pieces])), sort_by)
    boundaries = _boundaries(samples, count)
    if not boundaries.num_rows:
        return [EntitySlice(parts=tuple(table for _, table in sorted_pieces), sort_by=sort_by)]
    parts = [_cut_at.options(num_returns=boundaries.num_rows + 1).remote(t, boundaries) for _, t in sorted_pieces]
    return [EntitySlice(parts=tuple(cuts[i] for cuts in parts), sort_by=sort_by) for i in range(len(parts[0]))]


def _boundaries(samples: pa.Table, count: int) -> pa.Table:
    """At most ``count - 1`` distinct rows of the sorted ``samples`` that cut them into near-equal ranges, none
    equal to the first sample: every range holds a row (its boundary, or the first sample)."""
    if not samples.num_rows:
        return samples
    candidates = [0, *(samples.num_rows * i // count for i in range(1, count))]
    rows = samples.take(pa.array(candidates, pa.int64())).to_pylist()
    picks = [c for c, row, previous in zip(candidates[1:], rows[1:], rows[:-1], strict=True) if row != previous]
    return samples.take(pa.array(picks, pa.int64()))


@ray.remote
def _sort_and_sample(piece: EntitySlice, sort_by: tuple[str, ...]) -> tuple[pa.Table, pa.Table]:
    """A sample of the piece's ``sort_by`` columns (at most ``SAMPLE_ROWS``) and the piece sorted."""
    table = _sorted(piece.load(), sort_by)
    picks = np.linspace(0, table.num_rows - 1, min(table.num_rows, SAMPLE_ROWS)).round().astype(np.int64)
    return table.select(list(sort_by)).take(picks), table


@ray.remote
def _cut_at(table: pa.Table, boundaries: pa.Table) -> list[pa.Table]:
    """A sorted table cut before each boundary row: the rows below the first, ..., the rows from the last on
    (a row equal to a boundary goes after it; nulls last, as in the sort)."""
    columns = boundaries.column_names
    rows = table.select(columns).append_column("boundary", pa.array(np.zeros(table.num_rows, np.int8)))
    marks = boundaries.append_column("boundary", pa.array(np.full(boundaries.num_rows, -1, np.int8)))
    order = pc.sort_indices(
        pa.concat_tables([rows, marks]), [(c, "ascending") for c in [*columns, "boundary"]]
    ).to_numpy()
    cuts = np.flatnonzero(order >= table.num_rows) - np.arange(boundaries.num_rows)
    edges = [0, *cuts.tolist(), table.num_rows]
    return [table.slice(low, high - low) for low, high in itertools.pairwise(edges)]


def _file_slices(files: tuple[str, ...], size: int) -> list[EntitySlice]:
    """The files' rows, in order, as slices of ``size`` rows (the last may be shorter)."""
    groups = []  # (path, row group, first row overall, rows)
    first = 0
    for path in files:
        meta = footer(path).metadata
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows
            groups.append((path, group, first, rows))
            first += rows
    slices = []
    for low in range(0, first, size):
        high = min(first, low + size)
        overlapping = [g for g in groups if g[2] < high and g[2] + g[3] > low]
        spans = []
        for path, same_file in itertools.groupby(overlapping, key=lambda g: g[0]):
            same_file = list(same_file)
            begin, end = max(low, same_file[0][2]), min(high, same_file[-1][2] + same_file[-1][3])
            spans.append(FileSpan(path, tuple(g[1] for g in same_file), begin - same_file[0][2], end - begin))
        slices.append(EntitySlice(spans=tuple(spans)))
    return slices


def _arrow_schema(dataset: ray.data.Dataset) -> pa.Schema:
    schema = dataset.schema()
    if schema is None:
        raise TrainingSetError("entity_df has no columns")
    return pa.schema(zip(schema.names, schema.types, strict=True))


def _parse_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with string timestamps parsed as Feast parses them (to UTC)."""
    column = frame.get(ENTITY_TIMESTAMP)
    if column is None or not (pd.api.types.is_string_dtype(column) or pd.api.types.is_object_dtype(column)):
        return frame
    try:
        return frame.assign(**{ENTITY_TIMESTAMP: pd.to_datetime(column, utc=True)})
    except (ValueError, TypeError) as error:
        raise TrainingSetError(f"entity_df: {ENTITY_TIMESTAMP} holds values that are not timestamps: {error}") from None
