"""Reshaping the long table of windowed aggregates into wide feature views (no arithmetic happens here)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from propensity.features.catalog import View
from propensity.features.sql import ALL, long_column

_ARROW_TYPES = {"int32": pa.int32(), "float32": pa.float32()}


def widen(long: pa.Table, view: View) -> pa.Table:
    """One row per (customer, snapshot) of the roll-up rows, one column per feature of ``view``.

    ``long`` has columns ``customer_id``, ``category``, ``day`` (days since 1970) and one column per windowed
    aggregate, sorted by day and customer. Counts and sums absent for a category are 0; recencies are null.
    """
    long = long.combine_chunks()
    category = long.column("category").to_numpy(zero_copy_only=False)
    is_base = category == ALL
    key = _keys(long)
    base_key = key[is_base]
    n = base_key.size
    positions: dict[str | None, tuple[np.ndarray, np.ndarray]] = {}  # category -> (long rows, wide rows)
    for feature in view.features:
        if feature.category not in positions:
            selected = np.flatnonzero(category == (feature.category or ALL))
            positions[feature.category] = (selected, np.searchsorted(base_key, key[selected]))
    values: dict[str, np.ndarray] = {}
    columns: dict[str, pa.Array] = {
        "customer_id": pa.array(long.column("customer_id").to_numpy()[is_base]),
        "event_timestamp": _timestamps(long.column("day").to_numpy()[is_base]),
    }
    for feature in view.features:
        selected, where = positions[feature.category]
        name, _ = long_column(feature)
        if name not in values:
            values[name] = long.column(name).to_numpy()
        recency = feature.aggregate == "recency"
        out = np.full(n, np.nan) if recency else np.zeros(n)
        out[where] = values[name][selected]
        if not recency:
            out = np.nan_to_num(out)
        columns[feature.name] = pa.array(out, type=_ARROW_TYPES[feature.dtype], from_pandas=True)
    return pa.table(columns)


def _keys(table: pa.Table) -> np.ndarray:
    """Sortable int64 keys of (day, customer_id), matching the long table's order."""
    day = table.column("day").to_numpy().astype(np.int64)
    customer = table.column("customer_id").to_numpy().astype(np.int64)
    return day * (1 << 40) + customer


def _timestamps(days: np.ndarray) -> pa.Array:
    micros = days.astype(np.int64) * 86_400_000_000
    return pa.array(micros, type=pa.timestamp("us", tz="UTC"))
