"""Atomic writes: a file appears whole or not at all."""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from propensity.storage import (
    DamagedFileError,
    OutputExistsError,
    SortedParquetWriter,
    atomic_file,
    check_parquet_files,
    staged_directory,
    write_parquet_batches,
)


def test_a_file_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.csv"
    with atomic_file(target) as sink:
        sink.write(b"a,b\n")
        assert not target.exists()  # still aside
    assert target.read_bytes() == b"a,b\n"
    assert list(target.parent.iterdir()) == [target]


def test_a_failed_write_leaves_the_old_file_and_no_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "result.csv"
    target.write_bytes(b"old\n")
    with pytest.raises(RuntimeError), atomic_file(target) as sink:
        sink.write(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_batches_are_written_as_they_come_and_a_failed_stream_leaves_the_old_file(tmp_path: Path) -> None:
    schema = pa.schema([("customer_id", pa.int64()), ("label_x", pa.int8())])
    batches = [
        pa.record_batch([pa.array(range(i, i + 3)), pa.array([0, 1, 0], pa.int8())], schema=schema) for i in (0, 3)
    ]
    target = tmp_path / "labels.parquet"
    assert write_parquet_batches(pa.RecordBatchReader.from_batches(schema, batches), target) == 6
    assert pq.ParquetFile(target).num_row_groups == 2  # one per batch: none waited for the others
    assert pq.read_table(target).equals(pa.Table.from_batches(batches))

    def failing() -> Iterator[pa.RecordBatch]:
        yield batches[0]
        raise OSError("the query died")

    written = target.read_bytes()
    with pytest.raises(OSError, match="the query died"):
        write_parquet_batches(pa.RecordBatchReader.from_batches(schema, failing()), target)
    assert target.read_bytes() == written
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: b"",  # empty
        lambda data: b"{'not': 'parquet'}" * 50,  # something else
        lambda data: data[:-8] + (10**6).to_bytes(4, "little") + b"PAR1",  # a footer longer than the file
    ],
)
def test_a_damaged_parquet_file_is_named(tmp_path: Path, spoil) -> None:
    good, bad = tmp_path / "data" / "a.parquet", tmp_path / "data" / "b.parquet"
    good.parent.mkdir()
    pq.write_table(pa.table({"x": list(range(100))}), good)
    bad.write_bytes(spoil(good.read_bytes()))
    assert check_parquet_files(good, fix="n/a") == 1
    with pytest.raises(DamagedFileError, match=f"{bad} is damaged .*: rebuild it"):
        check_parquet_files(tmp_path / "data", fix="rebuild it")


@pytest.mark.parametrize(
    ("min_rows", "sizes"),
    [(0, [5, 8, 4, 1, 2]), (6, [8, 8, 1, 3]), (100, [8, 8, 4])],  # runs: 5 x 1, 12 x 2, 1 x 3, 2 x null
)
@pytest.mark.parametrize("parts", [[20], [5, 12, 3], [3, 2, 7, 5, 1, 2]], ids=["whole", "by-day", "any-cut"])
def test_row_groups_end_where_the_grouping_column_changes(
    tmp_path: Path, min_rows: int, sizes: list[int], parts: list[int]
) -> None:
    days = [1] * 5 + [2] * 12 + [3] + [None] * 2  # sorted, with a run longer than the row group bound
    table = pa.table({"day": pa.array(days, pa.int64()), "value": pa.array(range(len(days)))})
    path = tmp_path / "t.parquet"
    with SortedParquetWriter(path, group_by="day", row_group_size=8, min_group_rows=min_rows) as writer:
        for start, end in itertools.pairwise([0, *itertools.accumulate(parts)]):
            writer.write(table.slice(start, end - start))
    groups = [pq.ParquetFile(path).read_row_group(g).column("day").to_pylist() for g in range(len(sizes))]
    assert pq.read_metadata(path).num_row_groups == len(sizes)
    assert [len(g) for g in groups] == sizes
    assert pq.read_table(path).equals(table)
    assert writer.rows == len(days)


def test_a_sorted_writer_leaves_no_file_after_an_error_or_without_rows(tmp_path: Path) -> None:
    table = pa.table({"day": pa.array([1, 1, 2], pa.int64())})
    killed = pytest.raises(RuntimeError, match="killed")
    with killed, SortedParquetWriter(tmp_path / "t.parquet", group_by="day", row_group_size=1) as writer:
        writer.write(table)  # a row group of day 1 is on disk, aside
        raise RuntimeError("killed")
    with SortedParquetWriter(tmp_path / "empty.parquet", group_by="day", row_group_size=8) as writer:
        writer.write(table.slice(0, 0))
    assert list(tmp_path.iterdir()) == []


def test_a_directory_output_never_replaces_a_special_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match="is not a directory"), staged_directory(fifo, overwrite=overwrite):
            pass
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and [p.name for p in tmp_path.iterdir()] == ["pipe"]
