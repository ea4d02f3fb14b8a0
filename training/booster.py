"""One category's XGBoost classifier: parameters, class weighting, early stopping and calibrated predictions.

Positives are up-weighted by ``w = negatives / positives`` (capped by ``max_positive_weight``) so the trees attend
to the rare class; that multiplies the model's odds by ``w``, which :func:`predict_proba` divides out again, so
scores stay calibrated probabilities. Early stopping watches the weighted log loss on the validation split
(cheap to evaluate every round, unlike AUC).
"""

from __future__ import annotations

import math

import numpy as np
import xgboost as xgb

from training.config import BoosterParams


def positive_weight(positives: int, rows: int, cap: float) -> float:
    """The weight of a positive row: negatives per positive, at least 1 and at most ``cap``."""
    return min(cap, max(1.0, (rows - positives) / max(positives, 1)))


def row_weights(labels: np.ndarray, weight: float) -> np.ndarray:
    """Per-row weights: ``weight`` for positives, 1 for negatives."""
    return np.where(labels > 0, weight, 1.0).astype(np.float32)


def fit(
    params: BoosterParams, train: xgb.DMatrix, validation: xgb.DMatrix, *, nthread: int, callbacks: list | None = None
) -> xgb.Booster:
    """Boost on ``train`` until the validation log loss stops improving; the booster returned ends at the best
    round."""
    booster = xgb.train(
        params.xgboost(nthread),
        train,
        num_boost_round=params.num_boost_round,
        evals=[(validation, "validation")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
        callbacks=callbacks,
    )
    return booster[: booster.best_iteration + 1]


def predict_proba(booster: xgb.Booster, matrix: np.ndarray, weight: float) -> np.ndarray:
    """Calibrated probabilities: the booster's margin with the positive weight's odds divided out."""
    margin = booster.inplace_predict(matrix, predict_type="margin")
    return 1.0 / (1.0 + np.exp(-(np.asarray(margin, dtype=np.float64) - math.log(weight))))
