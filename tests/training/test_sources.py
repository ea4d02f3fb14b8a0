"""Reading feature sources by row group: the files DuckDB would read, timestamps in UTC microseconds, and row
groups pruned by their statistics without losing a row the join needs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training.sources import Bounds, ViewFiles, parquet_files, timestamp_micros


def test_a_directory_holds_the_files_duckdb_reads(tmp_path: Path) -> None:
    one = pa.table({"x": [1]})
    for name in ["top.parquet", "a/b/deep.parquet", ".hidden/h.parquet", "_under/u.parquet", "k=1/hive.parquet",
                 ".dot.parquet", "notes.txt", "noext"]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(one, tmp_path / name)
    read_by_duckdb = duckdb.sql(f"SELECT DISTINCT filename FROM read_parquet('{tmp_path}', filename = true)")
    assert parquet_files(str(tmp_path)) == tuple(sorted(row[0] for row in read_by_duckdb.fetchall()))
    assert parquet_files(str(tmp_path / "top.parquet")) == (str(tmp_path / "top.parquet"),)
    assert parquet_files(str(tmp_path / "missing")) == ()


@pytest.mark.parametrize(
    ("values", "type_"),
    [
        ([datetime(2024, 3, 1, 6, 30, 15, 123456, tzinfo=UTC), None], pa.timestamp("us", "UTC")),
        ([datetime(2024, 3, 1, 6, 30, 15, 123456), None], pa.timestamp("us")),  # naive: taken as UTC
        ([datetime(2024, 3, 1, 6, 30, 15, 123456), None], pa.timestamp("ns", "Europe/Paris")),
        ([datetime(2024, 3, 1, 6, 30, 15), None], pa.timestamp("s")),
        ([datetime(2024, 3, 1, 6, 30, 15, 123000), None], pa.timestamp("ms", "UTC")),
        ([date(2024, 3, 1), None], pa.date32()),
    ],
)
def test_timestamps_become_utc_microseconds_as_duckdb_reads_them(values, type_: pa.DataType) -> None:
    column = pa.array(values, type_)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("stamps", pa.table({"t": column}))
    expected = [row[0] for row in con.sql("SELECT epoch_us(t::TIMESTAMPTZ) FROM stamps").fetchall()]
    assert timestamp_micros(column).to_pylist() == expected


def _write_view(path: Path, rows: int = 400) -> pa.Table:
    """A snapshot source: 20 dates x 20 customers, sorted by date then customer, 40 rows per row group."""
    days = np.repeat(np.arange(rows // 20), 20)
    table = pa.table({
        "customer_id": pa.array(np.tile(np.arange(20), rows // 20), pa.int64()),
        "event_timestamp": pa.array(days * 86_400_000_000, pa.int64()).cast(pa.timestamp("us", "UTC")),
        "value": pa.array(np.arange(rows), pa.int32()),
    })  # fmt: skip
    half = rows // 2
    path.mkdir()
    pq.write_table(table.slice(0, half), path / "a.parquet", row_group_size=40)
    pq.write_table(table.slice(half), path / "b.parquet", row_group_size=40)
    return table


def test_pruned_reads_keep_every_row_in_bounds_and_skip_row_groups(tmp_path: Path) -> None:
    table = _write_view(tmp_path / "view")
    files = parquet_files(str(tmp_path / "view"))
    day = 86_400_000_000
    bounds = Bounds(first=6 * day, last=11 * day, keys={"customer_id": (3, 5)})
    pruned = ViewFiles(files, "event_timestamp", ("customer_id",))
    narrow, slots = pruned.read_narrow(["customer_id", "event_timestamp"], bounds)
    everything = ViewFiles(files, "event_timestamp", ("customer_id",))
    all_rows, _ = everything.read_narrow(["customer_id", "event_timestamp"], Bounds(None, 10**18, {}))
    assert all_rows.num_rows == table.num_rows
    assert narrow.num_rows < table.num_rows  # row groups were skipped
    stamps = timestamp_micros(table.column("event_timestamp")).to_numpy()
    keys = table.column("customer_id").to_numpy()
    in_bounds = (stamps >= 6 * day) & (stamps <= 11 * day) & (keys >= 3) & (keys <= 5)
    read = set(
        zip(
            narrow.column("customer_id").to_pylist(),
            timestamp_micros(narrow.column("event_timestamp")).to_pylist(),
            strict=True,
        )
    )
    assert set(zip(keys[in_bounds].tolist(), stamps[in_bounds].tolist(), strict=True)) <= read
    # the wide read finds each slot's row again, in any order and with gaps
    rows = [7, None, 0, narrow.num_rows - 1, 7]
    wanted = np.array([-1 if r is None else slots[r] for r in rows])
    wide, positions = pruned.read_rows(["value", "customer_id", "event_timestamp"], wanted)
    assert wide.num_rows < table.num_rows  # only the row groups holding wanted rows
    pair = lambda t, i: (t.column("customer_id")[i].as_py(), t.column("event_timestamp")[i].as_py())  # noqa: E731
    assert [None if p < 0 else pair(wide, int(p)) for p in positions] == [
        None if r is None else pair(narrow, r) for r in rows
    ]
