"""The per-category steps both training strategies share: when to skip a category, fitting it on quantized
matrices, and turning its test-split scores into the result the driver registers."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from training.booster import BoosterParams, fit, predict_proba, row_weights
from training.evaluate import evaluate, plot
from training.matrix import MatrixLayout
from training.results import TrainedCategory

SPLITS = ("train", "validation", "test")


class Champion(NamedTuple):
    """A category's production model, as a trainer needs it to score the same test rows."""

    booster: bytes  # XGBoost's UBJSON
    layout: MatrixLayout
    weight: float

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        """Its calibrated scores of ``matrix`` (which must have its layout)."""
        return predict_proba(xgb.Booster(model_file=bytearray(self.booster)), matrix, self.weight)


def skip_reason(positives: dict[str, int], rows: dict[str, int], min_positives: int) -> str | None:
    """Why a category cannot be trained and judged with these positives and rows per split, or None."""
    short = [f"{positives[name]} in {name}" for name in SPLITS if positives[name] < min_positives]
    if short:
        return f"too few positives ({', '.join(short)}; need {min_positives})"
    if positives["test"] == rows["test"]:
        return "no negatives in test"
    return None


def quantile_options(layout: MatrixLayout, params: BoosterParams, threads: int) -> dict[str, object]:
    """``QuantileDMatrix`` options for matrices of ``layout``: string features categorical, ``params``' bins."""
    return {
        "feature_types": layout.feature_types,
        "enable_categorical": True,
        "max_bin": params.max_bin,
        "nthread": threads,
    }


def fit_category(
    train: xgb.DMatrix,
    validation: xgb.DMatrix,
    labels: dict[str, np.ndarray],
    weight: float,
    params: BoosterParams,
    threads: int,
) -> xgb.Booster:
    """Fit one category on quantized matrices shared by every category (only the labels and the positive
    ``weight`` change)."""
    for matrix, name in ((train, "train"), (validation, "validation")):
        matrix.set_label(labels[name])
        matrix.set_weight(row_weights(labels[name], weight))
    return fit(params, train, validation, nthread=threads)


def category_result(
    category: str,
    booster: xgb.Booster,
    weight: float,
    labels: np.ndarray,
    scores: np.ndarray,
    champion_scores: np.ndarray | None,
    columns: list[str],
) -> TrainedCategory:
    """What the driver registers for a trained category: the booster, its test metrics and plots, and the
    production model's ROC AUC on the same test rows when it could score them."""
    evaluation = evaluate(labels, scores, booster, columns)
    return TrainedCategory(
        category=category,
        booster=booster.save_raw("ubj"),
        weight=weight,
        rounds=booster.num_boosted_rounds(),
        metrics=evaluation.metrics,
        top_features=evaluation.top_features,
        plots=plot(evaluation, category),
        champion_auc=None if champion_scores is None else float(roc_auc_score(labels, champion_scores)),
    )
