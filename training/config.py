"""The settings of labels, training sets and training: light to import (pydantic only), so the command line
declares its options without loading XGBoost, Ray or Feast."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from propensity.config import Workspace
from propensity.features.catalog import FEATURE_SERVICE

BATCH_ROWS = 50_000  # entity rows per point-in-time join task, at most
Strategy = Literal["auto", "per-category", "data-parallel"]
_CADENCE = re.compile(r"^(monthly|weekly|[1-9][0-9]{0,2}d)$")


class LabelConfig(BaseModel):
    """What a label is and at which cutoffs it is taken."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cadence: str = Field("monthly", description="cutoffs: `monthly` (1st of month), `weekly` (Mondays) or `<N>d`")
    horizon_days: int = Field(30, ge=1, le=366, description="the label window after each cutoff, in days")
    eligibility_days: int = Field(
        365, ge=1, le=3660, description="customers with an order or session this many days before a cutoff"
    )
    min_history_days: int = Field(90, ge=0, le=3660, description="no cutoff earlier than this after the data starts")
    first: date | None = Field(None, description="no cutoff before this date")
    last: date | None = Field(None, description="no cutoff after this date")

    @field_validator("cadence")
    @classmethod
    def _known_cadence(cls, value: str) -> str:
        if not _CADENCE.match(value):
            raise ValueError("use `monthly`, `weekly` or a number of days such as `14d`")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> LabelConfig:
        if self.first and self.last and self.first > self.last:
            raise ValueError(f"first ({self.first}) is after last ({self.last})")
        return self


class BoosterParams(BaseModel):
    """Hyper-parameters shared by every category of a run. Depth 4, subsample 0.6 and 5 rounds of patience
    were chosen on the quick start's training set against the earlier depth 6, subsample 0.8 and 20 rounds:
    median test ROC AUC 0.869 against 0.858 in 0.59x the boosting time (docs/BENCHMARKS.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_depth: int = Field(4, ge=1, le=16)
    learning_rate: float = Field(0.1, gt=0, le=1)
    num_boost_round: int = Field(300, ge=1)
    early_stopping_rounds: int = Field(5, ge=1)
    min_child_weight: float = Field(1.0, ge=0)
    subsample: float = Field(0.6, gt=0, le=1)
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


class TrainConfig(BaseModel):
    """What ``propensity train`` trains, and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    categories: list[str] | None = Field(None, description="categories to train (default: every labelled one)")
    feature_service: str = Field(FEATURE_SERVICE, min_length=1)
    workers: int | None = Field(None, ge=1, description="parallel trainers (default: the cluster's CPUs)")
    params: BoosterParams = BoosterParams()
    validation_cutoffs: int = Field(1, ge=1)
    test_cutoffs: int = Field(1, ge=1)
    min_positives: int = Field(5, ge=1, description="fewer positives in any split: the category is skipped")
    force: bool = Field(False, description="promote every new model, better or not")
    strategy: Strategy = Field("auto", description="auto: data-parallel when the set exceeds max_worker_gib")
    max_worker_gib: float | None = Field(
        None, gt=0, description="largest set for per-category training (default: 1/4 of the smallest node's memory)"
    )


@dataclass(frozen=True)
class TrainingSetRequest:
    """A join of entity rows (default: the workspace's labels) to a feature service, or to ``features``
    (``view:feature`` references), from a Feast repo (default: the workspace's), into ``out`` (default:
    ``training_sets/<service>``, replaced). Only the default set records its inputs, so training can tell it is
    current."""

    feature_service: str = FEATURE_SERVICE
    features: tuple[str, ...] = ()
    labels: Path | None = None
    out: Path | None = None
    repo: Path | None = None
    full_feature_names: bool = False
    overwrite: bool = False
    workers: int | None = None
    batch_rows: int = BATCH_ROWS

    @property
    def is_workspace_set(self) -> bool:
        """The workspace's own training set of its feature service, from its own labels and repo."""
        own = (self.features, self.labels, self.out, self.repo, self.full_feature_names)
        return own == ((), None, None, None, False)

    def target(self, ws: Workspace) -> Path:
        """Where the set goes."""
        return self.out or ws.training_sets_dir / (self.feature_service if not self.features else "custom")
