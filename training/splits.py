"""Time-ordered splits of label cutoffs: train, then validation (early stopping), then test (evaluation).

The last ``test`` cutoffs are held out for evaluation and promotion; the ``validation`` cutoffs before them stop
the boosting early. A cutoff only joins an earlier split when its whole label window (``horizon_days``) ends at or
before the first cutoff of the next split, so no label of a fitted row overlaps the period a later split
predicts. Cutoffs dropped for that reason are reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.dataset as pads

from propensity.errors import BadInputError
from training.plan import ENTITY_TIMESTAMP


@dataclass(frozen=True)
class TimeSplit:
    """The cutoffs of each split, in time order, and those left out to avoid label leakage."""

    train: tuple[date, ...]
    validation: tuple[date, ...]
    test: tuple[date, ...]
    dropped: tuple[date, ...]

    def of(self, cutoff: date) -> str | None:
        """The split ``cutoff`` belongs to, or None."""
        for name in ("train", "validation", "test"):
            if cutoff in getattr(self, name):
                return name
        return None

    def describe(self) -> dict[str, list[str]]:
        """The split as JSON-ready lists of ISO dates."""
        return {name: [str(c) for c in getattr(self, name)] for name in ("train", "validation", "test", "dropped")}


def split_cutoffs(cutoffs: list[date], horizon_days: int, *, validation: int = 1, test: int = 1) -> TimeSplit:
    """Split ``cutoffs`` by time: the last ``test`` for test, the ``validation`` before them, the rest for
    training, each earlier split keeping only cutoffs whose label window ends by the next split's start."""
    if validation < 1 or test < 1:
        raise BadInputError("the validation and test splits need at least one cutoff each")
    ordered = sorted(set(cutoffs))
    test_cutoffs = ordered[-test:]
    validation_cutoffs = _ending_by(ordered[:-test], test_cutoffs[0], horizon_days)[-validation:]
    if not validation_cutoffs:
        raise BadInputError(
            f"{len(ordered)} cutoff(s) cannot make train, validation and test splits with a {horizon_days}-day "
            "label window: make labels over a longer period or at a finer cadence"
        )
    train_cutoffs = _ending_by([c for c in ordered if c < validation_cutoffs[0]], validation_cutoffs[0], horizon_days)
    if not train_cutoffs:
        raise BadInputError(
            f"no cutoff is left for training before {validation_cutoffs[0]} (the validation split) with a "
            f"{horizon_days}-day label window: make labels over a longer period"
        )
    kept = {*train_cutoffs, *validation_cutoffs, *test_cutoffs}
    return TimeSplit(
        tuple(train_cutoffs),
        tuple(validation_cutoffs),
        tuple(test_cutoffs),
        tuple(c for c in ordered if c not in kept),
    )


def _ending_by(cutoffs: list[date], start: date, horizon_days: int) -> list[date]:
    return [c for c in cutoffs if c + timedelta(days=horizon_days) <= start]


def cutoff_stamps(split: TimeSplit, name: str, type_: pa.DataType) -> pa.Array:
    """The cutoffs of split ``name`` as entity timestamps of ``type_`` (midnight UTC)."""
    return pa.array([datetime(c.year, c.month, c.day, tzinfo=UTC) for c in getattr(split, name)]).cast(type_)


def split_filter(source: pads.Dataset, split: TimeSplit, name: str) -> pads.Expression:
    """The rows of the training set ``source`` in split ``name``: those at one of its cutoffs."""
    return pads.field(ENTITY_TIMESTAMP).isin(cutoff_stamps(split, name, source.schema.field(ENTITY_TIMESTAMP).type))
