"""Training: labels, point-in-time correct training sets on Ray, and per-category XGBoost models.

The public names load lazily, so a Ray worker importing one module (e.g. ``training.booster`` in a scoring
actor) does not pay for Feast's import (about 5 s of CPU: its type-checked classes are instrumented at import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from training.labels import LabelConfig, build_labels
    from training.plan import TrainingSetError
    from training.training_set import build_training_set, write_training_set

_EXPORTS = {
    "LabelConfig": "training.labels",
    "build_labels": "training.labels",
    "TrainingSetError": "training.plan",
    "build_training_set": "training.training_set",
    "write_training_set": "training.training_set",
}
__all__ = ["LabelConfig", "TrainingSetError", "build_labels", "build_training_set", "write_training_set"]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'training' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
