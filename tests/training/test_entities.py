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


def test_rows_sorted_on_the_driver_or_by_ray_data_come_in_the_same_order(ray_session) -> None:
    table = pa.table({"key": [3, 1, 2, 1, 3, 2], "event_timestamp": [5, 2, 2, 1, 1, 9]})
    expected = table.sort_by([("event_timestamp", "ascending"), ("key", "ascending")]).to_pylist()
    for given_ in (table, table.to_pandas(), ray.data.from_arrow(table)):  # a Parquet path sorts as a Dataset
        slices = EntityRows(given_).slices(3, sort_by=["event_timestamp", "key"])
        assert [row for piece in slices for row in piece.load().to_pylist()] == expected
