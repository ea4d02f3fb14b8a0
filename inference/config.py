"""The settings of ``propensity score``: light to import (pydantic only), so the command line declares its options
without loading Ray, Feast or XGBoost."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

MAX_PSI = 3.0  # above seasonal shifts (up to 1.7 measured), below a feature gone empty (13.7 measured)


class ScoreConfig(BaseModel):
    """What ``propensity score`` scores, and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: date | None = Field(None, description="scoring date (default: the day after the last event)")
    categories: list[str] | None = Field(None, description="categories to score (default: every production model)")
    eligibility_days: int = Field(365, ge=1, description="customers with activity in these days before as_of")
    workers: int | None = Field(None, ge=1, description="scoring actors at most (default: half the cluster's CPUs)")
    lock_timeout: float = Field(600, ge=0, description="seconds to wait for another scoring run of the workspace")
    max_psi: float = Field(
        MAX_PSI,
        gt=0,
        description="block the run when a feature's PSI vs its training data exceeds this (inf: never)",
    )
