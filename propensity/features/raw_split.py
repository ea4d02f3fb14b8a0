"""The raw rows of a build split by customer bucket, once per build, so that each slice task reads its own
customers' rows rather than every raw file (a build's raw reads stay one pass over the data, however many slices
it has). Ray tasks split the customer tables, one per piece of a raw file (whole row groups, about
``PIECE_ROWS`` rows), whatever the layout of the user's files: one big file or many small ones.

The split tree, in the build's scratch and removed with it::

    <split>/<table>/bucket-<bbbb>/<piece>.parquet    the piece's rows of the bucket (none: no file)
    <split>/<table>/bucket-<bbbb>/~schema.parquet    the table's columns and no rows, so a bucket is never missing

Pieces are numbered in the order of the raw files, so a bucket's rows are read in raw order (sums of floats come
out the same as from the raw files). A piece run again (a worker died) writes its files again, each atomically.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray

from propensity.datagen.schema import CHUNKED_TABLES, RAW_SCHEMAS, conform
from propensity.storage import atomic_file, write_parquet

PIECE_ROWS = 1_000_000  # rows of raw data per split task, at most (unless one row group holds more)
FLUSH_ROWS = 65_536  # rows of a bucket buffered before they are written as a row group
SCHEMA_FILE = "~schema.parquet"  # sorts after the pieces


@dataclass(frozen=True)
class RawPiece:
    """Whole row groups of one raw file of a customer table; ``index`` is its place among the table's pieces."""

    table: str
    file: Path
    row_groups: tuple[int, ...]
    index: int


def raw_pieces(raw_dir: Path) -> list[RawPiece]:
    """The pieces of every customer table under ``raw_dir``, in file order."""
    pieces = []
    for table in CHUNKED_TABLES:
        index = 0
        for file in sorted((raw_dir / table).glob("*.parquet")):
            for groups in _group_runs(pq.ParquetFile(file).metadata):
                pieces.append(RawPiece(table, file, groups, index))
                index += 1
    return pieces


def _group_runs(meta: pq.FileMetaData) -> Iterator[tuple[int, ...]]:
    run: list[int] = []
    rows = 0
    for group in range(meta.num_row_groups):
        if run and rows + meta.row_group(group).num_rows > PIECE_ROWS:
            yield tuple(run)
            run, rows = [], 0
        run.append(group)
        rows += meta.row_group(group).num_rows
    if run:
        yield tuple(run)


def bucket_dir(split: Path, table: str, bucket: int) -> Path:
    """Where the rows of ``table`` for customers of ``bucket`` are."""
    return split / table / f"bucket-{bucket:04d}"


def write_schema_files(split: Path, buckets: int) -> None:
    """Give every (customer table, bucket) of the split tree its schema file."""
    for table in CHUNKED_TABLES:
        for bucket in range(buckets):
            write_parquet(RAW_SCHEMAS[table].empty_table(), bucket_dir(split, table, bucket) / SCHEMA_FILE)


def split_piece(piece: RawPiece, buckets: int, split: Path) -> None:
    """Write the piece's rows into one file per bucket (``customer_id`` mod ``buckets``, the way DuckDB computes
    it; rows without a customer are in no bucket). No file is visible before it is complete."""
    schema = RAW_SCHEMAS[piece.table]
    batches = pq.ParquetFile(piece.file).iter_batches(FLUSH_ROWS, row_groups=piece.row_groups, columns=schema.names)
    pending: dict[int, list[pa.Table]] = {}
    with _BucketFiles(split, piece, schema) as files:
        for batch in batches:
            table = conform(pa.Table.from_batches([batch]), piece.table)
            ids = table.column("customer_id")
            keys = np.where(
                pc.is_null(ids).to_numpy(zero_copy_only=False), -1, np.fmod(ids.fill_null(0).to_numpy(), buckets)
            )
            for bucket in np.unique(keys[keys >= 0]).tolist():
                parts = pending.setdefault(bucket, [])
                parts.append(table.filter(pa.array(keys == bucket)))
                if sum(p.num_rows for p in parts) >= FLUSH_ROWS:
                    files.write(bucket, pa.concat_tables(parts))
                    parts.clear()
        for bucket, parts in pending.items():
            if parts:
                files.write(bucket, pa.concat_tables(parts))


class _BucketFiles:
    """The piece's file of each bucket, opened on its first rows; all renamed into place when the block ends
    without error, all removed otherwise."""

    def __init__(self, split: Path, piece: RawPiece, schema: pa.Schema):
        self.split, self.piece, self.schema = split, piece, schema
        self.writers: dict[int, pq.ParquetWriter] = {}
        self.stack = ExitStack()

    def __enter__(self) -> _BucketFiles:
        return self

    def __exit__(self, *error: object) -> None:
        self.stack.__exit__(*error)

    def write(self, bucket: int, table: pa.Table) -> None:
        if bucket not in self.writers:
            path = bucket_dir(self.split, self.piece.table, bucket) / f"{self.piece.index:06d}.parquet"
            sink = self.stack.enter_context(atomic_file(path))
            self.writers[bucket] = self.stack.enter_context(pq.ParquetWriter(sink, self.schema, compression="zstd"))
        self.writers[bucket].write_table(table)


split_task = ray.remote(num_cpus=1)(split_piece)
