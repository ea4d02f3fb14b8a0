"""Settings of a feature build (light: the command line reads them without loading the builder)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BuildConfig(BaseModel):
    """How snapshots are laid out in time and on disk."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cadence_days: int = Field(7, ge=1, le=366, description="days between snapshots")
    buckets: int | None = Field(
        None, ge=1, le=4096, description="slices of customers (customer_id mod buckets); default: 1 per 50k"
    )
    months_per_batch: int = Field(3, ge=1, description="months of snapshots computed per task")
    workers: int | None = Field(None, ge=1, description="tasks at a time; default: the cluster's CPUs")
    task_memory_gib: float = Field(
        2.0, ge=0.25, le=1024, description="memory of each task (DuckDB's limit; Ray schedules by it), GiB"
    )
