"""Entity rows cut into slices: every row exactly once, in order, whatever the files' row groups."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import ray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.entities import EntityRows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(st.tuples(st.integers(1, 30), st.integers(1, 7)), min_size=1, max_size=4),
    count=st.integers(1, 9),
)
def test_parquet_slices_hold_every_row_once_in_order(ray_session, tmp_path: Path, files, count: int) -> None:
    directory = tmp_path / f"entities-{len(list(tmp_path.iterdir()))}"
    directory.mkdir()
    first = 0
    for index, (rows, group) in enumerate(files):  # files of several row groups each, read in name order
        table = pa.table({"row": pa.array(range(first, first + rows), pa.int64())})
        pq.write_table(table, directory / f"part-{index:02d}.parquet", row_group_size=group)
        first += rows
    entities = EntityRows(directory)
    assert entities.num_rows == first
    slices = entities.slices(count, sort_by=None)
    loaded = [piece.load().column("row").to_pylist() for piece in slices]
    assert [row for rows in loaded for row in rows] == list(range(first))
    size = -(-first // count)
    assert all(len(rows) == size for rows in loaded[:-1]) and 0 < len(loaded[-1]) <= size


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.integers(0, 3), st.one_of(st.none(), st.integers(0, 2))), min_size=1, max_size=40),
    count=st.integers(1, 6),
    group=st.integers(1, 9),
)
def test_sorted_slices_hold_every_row_once_in_order(ray_session, tmp_path: Path, rows, count: int, group: int) -> None:
    # few distinct values: duplicate rows and ties across pieces; null keys sort last
    table = pa.table({
        "event_timestamp": pa.array([r[0] for r in rows], pa.int64()),
        "key": pa.array([r[1] for r in rows], pa.int64()),
        "row": pa.array(range(len(rows)), pa.int64()),
    })  # fmt: skip
    path = tmp_path / f"entities-{len(list(tmp_path.iterdir()))}.parquet"
    pq.write_table(table, path, row_group_size=group)
    blocks = ray.data.from_arrow([table.slice(i, group) for i in range(0, len(rows), group)])
    order = ["event_timestamp", "key"]
    expected = table.sort_by([(c, "ascending") for c in order])
    for given_ in (table, table.to_pandas(), blocks, path):
        slices = EntityRows(given_).slices(count, sort_by=order)
        got = pa.concat_tables([piece.load() for piece in slices])
        assert got.select(order).to_pylist() == expected.select(order).to_pylist()  # sorted, nulls last
        assert sorted(got.column("row").to_pylist()) == list(range(len(rows)))  # every row once
        assert len(slices) <= count and all(piece.load().num_rows for piece in slices)  # no empty slice
