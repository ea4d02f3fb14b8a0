"""Reshaping the long table of windowed aggregates into wide feature views (no arithmetic happens here)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from propensity.features.catalog import View
from propensity.features.sql import ALL, long_column

_ARROW_TYPES = {"int32": pa.int32(), "float32": pa.float32()}


class LongTable:
    """The long table of :func:`propensity.features.sql.windowed_query` (in any row order), indexed once and
    reshaped into each wide view with :meth:`widen`."""

    def __init__(self, long: pa.Table):
        self._long = long.combine_chunks()
        self._category = self._long.column("category")
        self._frame = self._long.column("frame").to_numpy(zero_copy_only=False)
        self._key = _keys(self._long)
        self._base = np.unique(self._key[pc.equal(self._category, ALL).to_numpy(zero_copy_only=False)])
        self._cells: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}  # -> (long rows, wide rows)
        self._values: dict[str, np.ndarray] = {}

    def widen(self, view: View) -> pa.Table:
        """One row per (customer, snapshot) with roll-up rows, sorted by snapshot then customer, and one column per
        feature of ``view``. Counts and sums absent for a category are 0; recencies are null."""
        n = self._base.size
        columns: dict[str, pa.Array] = {
            "customer_id": pa.array(self._base & ((1 << 40) - 1)),
            "event_timestamp": _timestamps(self._base >> 40),
        }
        for feature in view.features:
            frame, name = long_column(feature)
            selected, where = self._cell(feature.category or ALL, frame)
            recency = feature.aggregate == "recency"
            out = np.full(n, np.nan) if recency else np.zeros(n)
            out[where] = self._column(name)[selected]
            if not recency:
                out = np.nan_to_num(out)
            columns[feature.name] = pa.array(out, type=_ARROW_TYPES[feature.dtype], from_pandas=True)
        return pa.table(columns)

    def _cell(self, category: str, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """The long rows of (``category``, ``frame``) and the wide rows they go to."""
        if (category, frame) not in self._cells:
            in_category = pc.equal(self._category, category).to_numpy(zero_copy_only=False)
            selected = np.flatnonzero(in_category & (self._frame == frame))
            self._cells[category, frame] = selected, np.searchsorted(self._base, self._key[selected])
        return self._cells[category, frame]

    def _column(self, name: str) -> np.ndarray:
        if name not in self._values:
            self._values[name] = self._long.column(name).to_numpy(zero_copy_only=False)
        return self._values[name]


def _keys(table: pa.Table) -> np.ndarray:
    """Sortable int64 keys of (day, customer_id)."""
    day = table.column("day").to_numpy().astype(np.int64)
    customer = table.column("customer_id").to_numpy().astype(np.int64)
    return day * (1 << 40) + customer


def _timestamps(days: np.ndarray) -> pa.Array:
    micros = days.astype(np.int64) * 86_400_000_000
    return pa.array(micros, type=pa.timestamp("us", tz="UTC"))
