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
from pydantic import BaseModel, ConfigDict, Field


class BoosterParams(BaseModel):
    """Hyper-parameters shared by every category of a run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_depth: int = Field(6, ge=1, le=16)
    learning_rate: float = Field(0.1, gt=0, le=1)
    num_boost_round: int = Field(300, ge=1)
    early_stopping_rounds: int = Field(20, ge=1)
    min_child_weight: float = Field(1.0, ge=0)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.5, gt=0, le=1)
    max_bin: int = Field(64, ge=2, le=1024)
    max_positive_weight: float = Field(50.0, ge=1)
    seed: int = Field(0, ge=0)

    def xgboost(self, nthread: int) -> dict[str, object]:
        """The parameters as ``xgboost.train`` takes them."""
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "max_bin": self.max_bin,
            "seed": self.seed,
            "nthread": nthread,
        }


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
