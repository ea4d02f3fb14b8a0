"""The gather of the point-in-time join: ``take_rows`` behaves as Arrow's ``take`` for every column type."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from training.pit import take_rows

_TYPES = {
    "int32": (pa.int32(), st.integers(-(2**31), 2**31 - 1)),
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "float32": (pa.float32(), st.floats(width=32, allow_nan=False)),
    "float64": (pa.float64(), st.floats(allow_nan=False)),
    "bool": (pa.bool_(), st.booleans()),
    "string": (pa.string(), st.text(max_size=5)),
    "timestamp": (pa.timestamp("us", "UTC"), st.integers(0, 2**50)),
    "embedding": (pa.list_(pa.float32()), st.lists(st.floats(width=32, allow_nan=False), max_size=3)),
}


@st.composite
def tables_and_indices(draw: st.DrawFn) -> tuple[pa.Table, pa.Array]:
    """A table of every column type (with and without nulls, in one or two chunks) and indices into it."""
    rows = draw(st.integers(0, 30))
    columns = {}
    for name, (type_, values) in _TYPES.items():
        nullable = st.none() | values if draw(st.booleans()) else values
        column = pa.array(draw(st.lists(nullable, min_size=rows, max_size=rows)), type_)
        cut = draw(st.integers(0, rows))
        columns[name] = pa.chunked_array([column[:cut], column[cut:]], type_)
    index = st.none() | st.integers(0, rows - 1) if rows else st.none()
    indices = draw(st.lists(index, max_size=40))
    return pa.table(columns), pa.array(indices, pa.int64())


@settings(max_examples=200, deadline=None)
@given(tables_and_indices())
def test_take_rows_equals_arrow_take(case: tuple[pa.Table, pa.Array]) -> None:
    table, indices = case
    taken = take_rows(table, pa.chunked_array([indices]))
    assert taken.schema == table.schema
    assert taken.equals(table.take(indices))
    for column, expected in zip(taken.columns, table.take(indices).columns, strict=True):
        assert column.null_count == expected.null_count
