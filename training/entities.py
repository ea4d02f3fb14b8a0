"""The entity rows of a training set: any accepted input, cut into slices that the join tasks load themselves.

An in-memory input (pandas, Arrow) is sorted on the driver, which holds it already, and its slices go to the
object store. A Parquet input is sliced by row ranges of its files' row groups, read by the tasks; a Ray
Dataset, or a Parquet input that needs sorting, is sorted by Ray Data and its blocks become the slices. The
driver never reads rows it was not handed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import ray
import ray.data

from training.plan import ENTITY_TIMESTAMP, TrainingSetError
from training.sources import footer, parquet_files, read_row_groups

EntityInput = pd.DataFrame | pa.Table | ray.data.Dataset | str | Path


@dataclass(frozen=True)
class FileSpan:
    """Rows ``[skip, skip + rows)`` of the given row groups of a Parquet file."""

    path: str
    row_groups: tuple[int, ...]
    skip: int
    rows: int


@dataclass(frozen=True)
class EntitySlice:
    """One join task's entity rows: an Arrow table in the object store, or spans of Parquet files."""

    table: ray.ObjectRef | None = None
    spans: tuple[FileSpan, ...] = ()

    def load(self) -> pa.Table:
        """The rows, in order (inside a Ray task)."""
        if self.table is not None:
            return ray.get(self.table)
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
            table = self._table.sort_by([(c, "ascending") for c in sort_by]) if sort_by else self._table
            return [EntitySlice(table=ray.put(s)) for s in _cut(table, size)]
        if self._files and not sort_by:
            return _file_slices(self._files, size)
        dataset = self._dataset if self._dataset is not None else ray.data.read_parquet(list(self._files))
        if sort_by:
            dataset = dataset.sort(sort_by)
        return [EntitySlice(table=ref) for ref in dataset.repartition(count).to_arrow_refs()]


def _cut(table: pa.Table, size: int) -> list[pa.Table]:
    return [table.slice(start, size) for start in range(0, table.num_rows, size)]


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
