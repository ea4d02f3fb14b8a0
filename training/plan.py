"""A training set's join plan: which views it reads, from which files, and how (picklable, Feast-free, so the
Ray workers that join batches never import Feast). :mod:`training.resolve` makes one from a Feast repo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pyarrow as pa

from propensity.errors import BadInputError

ENTITY_TIMESTAMP = "event_timestamp"


class TrainingSetError(BadInputError):
    """A training set cannot be built from these inputs; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class ViewPlan:
    """How to read one feature view's source and join it."""

    name: str  # the view's name in feature references
    path: str  # absolute path (or URI) of the Parquet file or directory
    files: tuple[str, ...]  # the Parquet files read, as DuckDB's read_parquet expands ``path``
    columns: dict[str, str]  # name used in the join -> column in the Parquet files (Feast's field mapping)
    join_keys: dict[str, str]  # source join key -> entity column
    timestamp: str
    created: str | None
    ttl: timedelta | None  # None: rows never expire
    features: tuple[str, ...]  # source feature names, in output order
    outputs: tuple[str, ...]  # output column names, aligned with ``features``
    output_schema: pa.Schema  # the output columns' types, as Feast's DuckDB store returns them
    key_types: dict[str, str]  # source join key -> its DuckDB type in the source
    row_bytes: int  # about how many bytes one row of the view's output columns takes in memory


@dataclass(frozen=True)
class JoinPlan:
    """Every view a training set joins, in Feast's output order."""

    views: tuple[ViewPlan, ...]

    @property
    def outputs(self) -> list[str]:
        """The feature columns of the result, in order."""
        return [name for view in self.views for name in view.outputs]

    @property
    def row_bytes(self) -> int:
        """About how many bytes the feature columns of one output row take in memory."""
        return sum(view.row_bytes for view in self.views)

    @property
    def entity_keys(self) -> tuple[str, ...]:
        """The entity columns the views join on, in order of first use."""
        return tuple(dict.fromkeys(key for view in self.views for key in view.join_keys.values()))
