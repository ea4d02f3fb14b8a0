"""Reading a feature view's Parquet files by row group: the narrow columns of the row groups a batch of entity
rows can need, then the wide feature columns of only the row groups holding the rows the join picked.

Row groups are chosen by their statistics (event timestamps, integer join keys); a row group without usable
statistics is always read, so pruning only ever saves work. Each worker process caches file footers, keyed by
path, size and modification time, across the batches it joins.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}  # ns: divided, not multiplied (see _scale)
ROW_BITS = 32  # a row's slot: (global row group number << ROW_BITS) | row within the row group


@dataclass(frozen=True)
class Bounds:
    """What a batch of entity rows can match: timestamps in [first, last] (UTC microseconds; first None: no
    lower bound) and, per integer join column of the source, a [min, max] range."""

    first: int | None
    last: int
    keys: dict[str, tuple[int, int]]


@dataclass(frozen=True)
class _Footer:
    metadata: pq.FileMetaData
    schema: pa.Schema
    chunks: dict[str, list[int]]  # top-level column -> the indices of its column chunks


def parquet_files(path: str) -> tuple[str, ...]:
    """The Parquet files of a source: the file at ``path``, or every ``*.parquet`` file under the directory at
    ``path`` at any depth, hidden ones included (as DuckDB's ``read_parquet`` expands a directory), sorted.
    ``path`` is a local path or a URI pyarrow's file systems read (``s3://``, ``gs://``, ...)."""
    fs, root = _filesystem(path)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.File:
        return (path,)
    if info.type != pafs.FileType.Directory:
        return ()
    found = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    names = sorted(f.path for f in found if f.type == pafs.FileType.File and f.path.endswith(".parquet"))
    scheme = path.split("://")[0] + "://" if "://" in path else ""
    return tuple(scheme + name for name in names)


def footer(path: str) -> _Footer:
    """The parsed footer of the Parquet file at ``path`` (cached per path, size and modification time)."""
    fs, name = _filesystem(path)
    info = fs.get_file_info(name)
    return _footer(path, info.size, info.mtime_ns)


@functools.lru_cache(maxsize=8192)
def _footer(path: str, size: int, mtime_ns: int | None) -> _Footer:
    fs, name = _filesystem(path)
    with fs.open_input_file(name) as file:
        metadata = pq.read_metadata(file)
    chunks: dict[str, list[int]] = {}
    for i in range(metadata.num_columns):
        chunks.setdefault(metadata.schema.column(i).path.split(".")[0], []).append(i)
    return _Footer(metadata, metadata.schema.to_arrow_schema(), chunks)


def _filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), path)


def timestamp_micros(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A timestamp or date column as int64 UTC microseconds (naive times are taken as UTC, as Feast's DuckDB
    store takes them); nulls stay null."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_date(column.type):
        column = pc.cast(column, pa.timestamp("us"))
    elif column.type.unit != "us":
        column = pc.cast(column.cast(pa.timestamp(column.type.unit)), pa.timestamp("us"), safe=False)
    return column.view(pa.timestamp("us", column.type.tz)).cast(pa.int64())


@dataclass
class ViewFiles:
    """The files of one feature view's source and the row groups read from them for one batch.

    Row groups read are numbered globally in reading order; a row's *slot* packs that number and the row's
    index within the row group, so a picked row is found again in the wide read without joining on it.
    """

    files: tuple[str, ...]
    timestamp: str  # column names in the files
    keys: tuple[str, ...]

    def __post_init__(self) -> None:
        self._groups: list[tuple[int, int]] = []  # global row group number -> (file index, row group)

    def read_narrow(self, columns: list[str], bounds: Bounds) -> tuple[pa.Table, np.ndarray]:
        """``columns`` of every row group that ``bounds`` can match, and each row's slot."""
        parts, slots = [], []
        for index, path in enumerate(self.files):
            meta = footer(path)
            groups = [g for g in range(meta.metadata.num_row_groups) if self._may_match(meta, g, bounds)]
            if not groups:
                continue
            parts.append(read_row_groups(path, groups, columns))
            for group in groups:
                number = len(self._groups)
                self._groups.append((index, group))
                rows = meta.metadata.row_group(group).num_rows
                slots.append((number << ROW_BITS) + np.arange(rows, dtype=np.int64))
        if not parts:
            return self._empty(columns), np.zeros(0, np.int64)
        return pa.concat_tables(parts, promote_options="permissive"), np.concatenate(slots)

    def read_rows(self, columns: list[str], slots: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        """``columns`` of the row groups holding ``slots`` (-1: none), and each slot's position in the result
        (-1 stays -1)."""
        wanted = np.unique(slots[slots >= 0] >> ROW_BITS)
        start = np.full(len(self._groups), -1, dtype=np.int64)
        parts, offset = [], 0
        by_file: dict[int, list[int]] = {}
        for number in wanted.tolist():
            by_file.setdefault(self._groups[number][0], []).append(number)
        for index, numbers in by_file.items():
            path = self.files[index]
            meta = footer(path)
            groups = [self._groups[n][1] for n in numbers]
            parts.append(read_row_groups(path, groups, columns))
            for number, group in zip(numbers, groups, strict=True):
                start[number] = offset
                offset += meta.metadata.row_group(group).num_rows
        positions = np.full(len(slots), -1, dtype=np.int64)
        found = slots >= 0
        positions[found] = start[slots[found] >> ROW_BITS] + (slots[found] & ((1 << ROW_BITS) - 1))
        if not parts:
            return self._empty(columns), positions
        return pa.concat_tables(parts, promote_options="permissive"), positions

    def _empty(self, columns: list[str]) -> pa.Table:
        return footer(self.files[0]).schema.empty_table().select(columns)

    def _may_match(self, meta: _Footer, group: int, bounds: Bounds) -> bool:
        """False only when the row group's statistics prove no row of it can match ``bounds``."""
        row_group = meta.metadata.row_group(group)
        stamps = _range(meta, row_group, self.timestamp)
        if stamps is not None and (stamps[0] > bounds.last or (bounds.first is not None and stamps[1] < bounds.first)):
            return False
        for column, (low, high) in bounds.keys.items():
            keys = _range(meta, row_group, column)
            if keys is not None and (keys[0] > high or keys[1] < low):
                return False
        return True


def read_row_groups(path: str, groups: list[int], columns: list[str] | None = None) -> pa.Table:
    """``columns`` (default: all) of the row groups ``groups`` of the Parquet file at ``path``, on one thread."""
    fs, name = _filesystem(path)
    info = fs.get_file_info(name)
    return _reader(path, info.size, info.mtime_ns).read_row_groups(groups, columns=columns, use_threads=False)


@functools.lru_cache(maxsize=256)
def _reader(path: str, size: int, mtime_ns: int | None) -> pq.ParquetFile:
    """An open reader of the file (kept, as opening one costs about a millisecond; at most 256 files open)."""
    fs, name = _filesystem(path)
    return pq.ParquetFile(fs.open_input_file(name), metadata=_footer(path, size, mtime_ns).metadata)


def _range(meta: _Footer, row_group: pq.RowGroupMetaData, column: str) -> tuple[int, int] | None:
    """The [min, max] of an integer or timestamp column in a row group (timestamps in UTC microseconds), or
    None when the statistics cannot say."""
    index, chunks = meta.schema.get_field_index(column), meta.chunks.get(column, [])
    if index < 0 or len(chunks) != 1:
        return None
    type_ = meta.schema.field(index).type
    stats = row_group.column(chunks[0]).statistics
    if stats is None or not stats.has_min_max or stats.physical_type not in ("INT32", "INT64"):
        return None
    low, high = stats.min_raw, stats.max_raw
    if pa.types.is_timestamp(type_):
        return _scale(low, type_.unit), _scale(high, type_.unit)
    if pa.types.is_date32(type_):
        return low * 86_400_000_000, high * 86_400_000_000
    if pa.types.is_integer(type_):
        return low, high
    return None


def _scale(value: int, unit: str) -> int:
    return value // 1000 if unit == "ns" else value * _MICROS[unit]
