"""What the generators take: the settings of ``propensity datagen``, light to import (pydantic only)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_CUSTOMERS = 100_000_000
MAX_DAYS = 3_660  # the longest activity span, end - start


class SyntheticConfig(BaseModel):
    """What to generate. Defaults: 10,000 customers over the two calendar years 2024 and 2025."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customers: int = Field(10_000, ge=1, le=MAX_CUSTOMERS, description="number of customers")
    start: date = Field(date(2024, 1, 1), description="first day of activity")
    end: date = Field(date(2025, 12, 31), description="last day of activity")
    seed: int = Field(0, ge=0, description="random seed; equal seeds give equal data")

    @model_validator(mode="after")
    def _end_after_start(self) -> SyntheticConfig:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        if (self.end - self.start).days > MAX_DAYS:
            raise ValueError(f"end ({self.end}) is more than {MAX_DAYS:,} days after start ({self.start})")
        return self


class CompleteJourneyConfig(BaseModel):
    """How to map the data: how many of its top product categories become modelled categories."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    categories: int = Field(24, ge=1, le=200, description="number of top product categories to model")
