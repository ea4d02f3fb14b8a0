"""Splitting raw rows by customer bucket: each bucket's file holds exactly the rows DuckDB's ``customer_id %
buckets`` gives it, in raw order, whatever the files' layout; a piece that fails leaves no file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from propensity.datagen.schema import RAW_SCHEMAS, conform
from propensity.errors import DamagedDataError
from propensity.features import raw_split
from propensity.features.raw_split import bucket_dir, raw_pieces, split_piece, write_schema_files

BUCKETS = 3


def _sessions(ids: list[int | None]) -> pa.Table:
    """Raw sessions of the customers ``ids`` (one row each, in that order; session ids number the rows)."""
    schema = RAW_SCHEMAS["sessions"]
    n = len(ids)
    columns = {
        "session_id": pa.array(np.arange(n), type=schema.field("session_id").type),
        "customer_id": pa.array(ids, type=schema.field("customer_id").type),
    }
    return pa.table({f.name: columns.get(f.name, pa.nulls(n, type=f.type)) for f in schema}, schema=schema)


def _split(raw_dir: Path, split: Path) -> None:
    write_schema_files(split, BUCKETS)
    for piece in raw_pieces(raw_dir):
        split_piece(piece, BUCKETS, split)


def _bucket_rows(split: Path, bucket: int) -> pa.Table:
    return duckdb.sql(
        f"SELECT * FROM read_parquet('{bucket_dir(split, 'sessions', bucket)}/*.parquet')"
    ).to_arrow_table()


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """Sessions in two files, the first of several row groups, with null and negative customer ids."""
    rng = np.random.default_rng(7)
    first = [int(i) for i in rng.integers(-5, 50, 40)] + [None, 12, None]
    second = [int(i) for i in rng.integers(0, 50, 25)]
    root = tmp_path / "raw"
    (root / "sessions").mkdir(parents=True)
    pq.write_table(_sessions(first), root / "sessions" / "part-00000.parquet", row_group_size=7)
    pq.write_table(_sessions(second), root / "sessions" / "part-00001.parquet")
    for name in ("customers", "orders", "order_lines", "session_views", "emails"):
        (root / name).mkdir()
    return root


@pytest.mark.parametrize("piece_rows", [1_000_000, 10])
def test_each_bucket_holds_the_rows_duckdb_gives_it_in_raw_order(
    raw_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece_rows: int
) -> None:
    monkeypatch.setattr(raw_split, "PIECE_ROWS", piece_rows)
    # small pieces cut the first file (row groups of 7 rows) in six: 7, 7, 7, 7, 7, 7 + 1; the second stays whole
    assert len(raw_pieces(raw_dir)) == (2 if piece_rows > 100 else 7)
    _split(raw_dir, tmp_path / "split")
    raw = f"read_parquet('{raw_dir / 'sessions'}/*.parquet', file_row_number = true, filename = true)"
    for bucket in range(BUCKETS):
        expected = duckdb.sql(
            f"SELECT * EXCLUDE (file_row_number, filename) FROM {raw} WHERE customer_id % {BUCKETS} = {bucket} "
            "ORDER BY filename, file_row_number"
        ).to_arrow_table()
        assert expected.num_rows > 0
        assert _bucket_rows(tmp_path / "split", bucket).equals(expected)


def test_rows_without_a_customer_or_with_a_negative_id_are_left_out(raw_dir: Path, tmp_path: Path) -> None:
    _split(raw_dir, tmp_path / "split")
    kept = sum(_bucket_rows(tmp_path / "split", b).num_rows for b in range(BUCKETS))
    in_buckets = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{raw_dir / 'sessions'}/*.parquet') "
        f"WHERE customer_id % {BUCKETS} BETWEEN 0 AND {BUCKETS - 1}"
    ).fetchall()[0][0]
    assert kept == in_buckets < pq.read_table(raw_dir / "sessions").num_rows


def test_an_empty_bucket_reads_as_an_empty_table_of_the_schema(tmp_path: Path, raw_dir: Path) -> None:
    write_schema_files(tmp_path / "split", BUCKETS)
    empty = _bucket_rows(tmp_path / "split", 2)
    assert empty.num_rows == 0
    assert empty.schema.names == RAW_SCHEMAS["sessions"].names


def test_a_piece_that_fails_midway_leaves_no_file(
    raw_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(raw_split, "FLUSH_ROWS", 5)  # files are open and written to before the failure
    batches = []

    def failing_on_the_eighth_batch(table: pa.Table, name: str) -> pa.Table:
        batches.append(table)
        if len(batches) == 8:
            raise DamagedDataError("a damaged batch")
        return conform(table, name)

    monkeypatch.setattr(raw_split, "conform", failing_on_the_eighth_batch)
    with pytest.raises(DamagedDataError, match="a damaged batch"):
        split_piece(raw_pieces(raw_dir)[0], BUCKETS, tmp_path / "split")
    assert not [p for p in (tmp_path / "split").rglob("*") if p.is_file()]
