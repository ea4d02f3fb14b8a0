"""What crosses Ray between the trainers and the driver: the job, the training set's description and each
category's result, as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from propensity.drift import DriftProfile
from training.matrix import MatrixLayout
from training.splits import TimeSplit

if TYPE_CHECKING:
    from training.fitting import Champion


@dataclass(frozen=True)
class TrainingJob:
    """One training run's input: the training set, its feature columns, the categories to train, the split, and
    the production models to compare against."""

    path: Path
    features: list[str]
    categories: list[str]
    split: TimeSplit
    champions: dict[str, Champion]


@dataclass(frozen=True)
class SetDescription:
    """A training set as the driver needs it, small enough to send: its matrix layout, rows per split, the data
    fingerprint per label column, the train split's drift profile and, from the streaming survey, the positives
    per split and label column."""

    layout: MatrixLayout
    rows: dict[str, int]
    fingerprints: dict[str, str]
    profile: DriftProfile
    positives: dict[str, dict[str, int]] | None = None


@dataclass(frozen=True)
class SkippedCategory:
    """A category that could not be trained and judged, and why."""

    category: str
    reason: str


@dataclass(frozen=True)
class TrainedCategory:
    """A trained category as the driver registers it: the booster (XGBoost's UBJSON), its positive weight and
    rounds, its test metrics, top features and plots, and the production model's ROC AUC on the same test rows
    when it could score them."""

    category: str
    booster: bytes
    weight: float
    rounds: int
    metrics: dict[str, float]
    top_features: list[tuple[str, float]]  # (column, total gain), best first
    plots: dict[str, bytes]
    champion_auc: float | None


CategoryResult = TrainedCategory | SkippedCategory


@dataclass(frozen=True)
class ShardScores:
    """One data-parallel worker's part of a category's test split: its labels and scores (and the production
    model's), with the booster from the first worker only."""

    category: str
    rank: int
    booster: bytes | None
    labels: np.ndarray
    scores: np.ndarray
    champion_scores: np.ndarray | None
