"""Training: labels, point-in-time correct training sets on Ray, and per-category XGBoost models."""

from training.labels import LabelConfig, build_labels
from training.plan import TrainingSetError
from training.training_set import build_training_set, write_training_set

__all__ = ["LabelConfig", "TrainingSetError", "build_labels", "build_training_set", "write_training_set"]
