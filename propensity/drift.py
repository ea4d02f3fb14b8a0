"""Population stability index (PSI): how far each column's distribution has moved from a reference sample.

A :class:`DriftProfile` bins every column of a reference matrix at the deciles of its values (distinct cut points
only, so a column with few distinct values gets a bin per value) plus one bin for missing values, and keeps the
share of rows in each bin. Rows seen later are counted into the same bins (:meth:`DriftProfile.count`, summable
over batches) and compared: PSI = sum over bins of (actual - expected) * ln(actual / expected), shares floored at
``SHARE_FLOOR`` so an empty bin does not make it infinite. Rule of thumb: below 0.1 stable, 0.1 to 0.25 a
moderate shift, above 0.25 a large one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SHARE_FLOOR = 1e-4
REFERENCE_ROWS = 20_000  # rows sampled from a training split to profile it
DECILES = np.linspace(0, 1, 11)[1:-1]


@dataclass(frozen=True, eq=False)
class DriftProfile:
    """Per column: sorted distinct cut points, and the reference share of rows in each bin (``len(edges) + 2``
    bins: ``(-inf, e0], (e0, e1], ..., (e_last, inf)``, then missing)."""

    columns: tuple[str, ...]
    edges: tuple[np.ndarray, ...]
    shares: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, matrix: np.ndarray, columns: Sequence[str]) -> DriftProfile:
        """The profile of a reference matrix (rows x ``columns``; NaN = missing)."""
        if matrix.shape[1] != len(columns):
            raise ValueError(f"a matrix of {matrix.shape[1]} columns cannot have {len(columns)} column names")
        edges = tuple(_cut_points(matrix[:, j]) for j in range(matrix.shape[1]))
        counts = _bin_counts(matrix, edges)
        return cls(tuple(columns), edges, tuple(c / max(1, c.sum()) for c in counts))

    def count(self, matrix: np.ndarray) -> list[np.ndarray]:
        """The rows of ``matrix`` (laid out as this profile's columns) counted per bin; sums of these compare."""
        return _bin_counts(matrix, self.edges)

    def psi(self, counts: Sequence[np.ndarray]) -> dict[str, float]:
        """Each column's PSI of the rows behind ``counts`` (from :meth:`count`) against the reference."""
        out = {}
        for name, expected, observed in zip(self.columns, self.shares, counts, strict=True):
            total = observed.sum()
            actual = np.maximum(observed / total, SHARE_FLOOR) if total else np.full(len(observed), SHARE_FLOOR)
            reference = np.maximum(expected, SHARE_FLOOR)
            out[name] = float(np.sum((actual - reference) * np.log(actual / reference)))
        return out

    def write(self, path: Path) -> None:
        """Save as Parquet (one row per column)."""
        table = pa.table({
            "column": list(self.columns),
            "edges": [e.tolist() for e in self.edges],
            "shares": [s.tolist() for s in self.shares],
        })  # fmt: skip
        pq.write_table(table, path)

    @classmethod
    def read(cls, path: Path) -> DriftProfile:
        """Load what :meth:`write` saved."""
        table = pq.read_table(path)
        return cls(
            tuple(table.column("column").to_pylist()),
            tuple(np.asarray(e, dtype=np.float64) for e in table.column("edges").to_pylist()),
            tuple(np.asarray(s, dtype=np.float64) for s in table.column("shares").to_pylist()),
        )


class RowSample:
    """A uniform random sample of at most ``size`` rows of matrices fed batch by batch (bottom-k on random keys:
    the same rows whatever the batching, for a given seed and row order)."""

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.keys = np.empty(0)
        self.rows: np.ndarray | None = None

    def add(self, matrix: np.ndarray) -> None:
        """Offer the next rows."""
        keys = self.rng.random(len(matrix))
        if len(self.keys) >= self.size:  # only rows that beat the sample's largest key can enter
            enter = keys < self.keys.max()
            keys, matrix = keys[enter], matrix[enter]
        keys = np.concatenate([self.keys, keys])
        rows = matrix if self.rows is None else np.concatenate([self.rows, matrix])
        keep = np.sort(np.argsort(keys, kind="stable")[: self.size])
        self.keys, self.rows = keys[keep], rows[keep]

    @property
    def matrix(self) -> np.ndarray:
        """The sampled rows, in the order they came."""
        if self.rows is None:
            raise ValueError("the sample has no rows yet")
        return self.rows


def _cut_points(values: np.ndarray) -> np.ndarray:
    present = values[~np.isnan(values)].astype(np.float64)
    return np.unique(np.quantile(present, DECILES, method="inverted_cdf")) if present.size else np.empty(0)


def _bin_counts(matrix: np.ndarray, edges: Sequence[np.ndarray]) -> list[np.ndarray]:
    counts = []
    for j, cuts in enumerate(edges):
        values = matrix[:, j]
        bins = np.searchsorted(cuts, values, side="left")
        bins[np.isnan(values)] = len(cuts) + 1
        counts.append(np.bincount(bins, minlength=len(cuts) + 2))
    return counts
