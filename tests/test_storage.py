"""Atomic writes: a file appears whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from propensity.storage import DamagedFileError, atomic_file, check_parquet_files


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
