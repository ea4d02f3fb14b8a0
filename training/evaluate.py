"""How good one category's model is on the held-out split: metrics, curves and plots."""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import xgboost as xgb
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

PLOTS = ("roc", "pr", "lift", "calibration", "importance")


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one category's model on one split, with what its plots need."""

    metrics: dict[str, float]
    top_features: list[tuple[str, float]]  # (column, total gain), best first
    labels: np.ndarray
    scores: np.ndarray


def evaluate(labels: np.ndarray, scores: np.ndarray, booster: xgb.Booster, columns: list[str]) -> Evaluation:
    """ROC AUC, PR AUC (average precision), log loss, Brier score, expected calibration error, and the
    precision and lift of the top-scored decile against the base rate; and the 20 columns of most total gain."""
    labels = np.asarray(labels, dtype=np.int8)
    base_rate = float(labels.mean())
    top = np.argsort(-scores, kind="stable")[: max(1, len(scores) // 10)]
    top_precision = float(labels[top].mean())
    metrics = {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "log_loss": float(log_loss(labels, scores, labels=[0, 1])),
        "brier": float(brier_score_loss(labels, scores)),
        "calibration_error": _calibration_error(labels, scores),
        "base_rate": base_rate,
        "top_decile_precision": top_precision,
        "top_decile_lift": top_precision / base_rate,
        "rows": float(len(labels)),
        "positives": float(labels.sum()),
    }
    gains = booster.get_score(importance_type="total_gain")
    named = {columns[int(key[1:])] if key.startswith("f") and key[1:].isdigit() else key: v for key, v in gains.items()}
    top_features = sorted(named.items(), key=lambda item: -item[1])[:20]
    return Evaluation(metrics, top_features, labels, np.asarray(scores, dtype=np.float64))


def _calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins: the row-weighted mean |observed rate - mean score|."""
    order = np.argsort(scores, kind="stable")
    return float(
        sum(
            abs(labels[part].mean() - scores[part].mean()) * len(part)
            for part in np.array_split(order, bins)
            if len(part)
        )
        / len(scores)
    )


def plot(evaluation: Evaluation, category: str) -> dict[str, bytes]:
    """The ROC, precision-recall, lift, calibration and feature-importance plots, as PNG bytes by name."""
    y, p = evaluation.labels, evaluation.scores
    pngs = {}
    for kind in PLOTS:
        figure, axes = plt.subplots(figsize=(4.2, 3.4), dpi=90)
        _DRAW[kind](axes, y, p, evaluation)
        axes.set_title(f"{category}: {kind}", fontsize=9)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        pngs[kind] = buffer.getvalue()
    return pngs


def _roc(axes, y, p, evaluation) -> None:
    fpr, tpr, _ = roc_curve(y, p)
    axes.plot(fpr, tpr, label=f"AUC {evaluation.metrics['roc_auc']:.3f}")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set(xlabel="false positive rate", ylabel="true positive rate")
    axes.legend(loc="lower right", fontsize=8)


def _pr(axes, y, p, evaluation) -> None:
    precision, recall, _ = precision_recall_curve(y, p)
    axes.plot(recall, precision, label=f"AP {evaluation.metrics['pr_auc']:.3f}")
    axes.axhline(evaluation.metrics["base_rate"], linestyle=":", color="grey", label="base rate")
    axes.set(xlabel="recall", ylabel="precision")
    axes.legend(loc="upper right", fontsize=8)


def _lift(axes, y, p, evaluation) -> None:
    order = np.argsort(-p, kind="stable")
    deciles = np.array_split(order, 10)
    lifts = [y[d].mean() / evaluation.metrics["base_rate"] if len(d) else 0.0 for d in deciles]
    axes.bar(range(1, 11), lifts)
    axes.axhline(1.0, linestyle=":", color="grey")
    axes.set(xlabel="score decile (1 = highest)", ylabel="lift over base rate")


def _calibration(axes, y, p, evaluation) -> None:
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    axes.plot(predicted, observed, marker="o")
    top = max(float(predicted.max(initial=0)), float(observed.max(initial=0)), 1e-3)
    axes.plot([0, top], [0, top], linestyle=":", color="grey")
    axes.set(xlabel="mean score", ylabel="observed rate")


def _importance(axes, y, p, evaluation) -> None:
    names = [name for name, _ in evaluation.top_features[:10]][::-1]
    gains = [gain for _, gain in evaluation.top_features[:10]][::-1]
    axes.barh(range(len(names)), gains)
    axes.set_yticks(range(len(names)), names, fontsize=6)
    axes.set(xlabel="total gain")


_DRAW = {"roc": _roc, "pr": _pr, "lift": _lift, "calibration": _calibration, "importance": _importance}
