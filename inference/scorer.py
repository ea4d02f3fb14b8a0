"""Scoring blocks of feature rows with every production model: the Ray Data actor that holds the boosters."""

from __future__ import annotations

import json
from datetime import datetime
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import ray
import xgboost as xgb
from ray.actor import ActorHandle

from propensity.drift import DriftProfile
from propensity.raysession import cluster_cpus
from training.booster import predict_proba
from training.matrix import MatrixLayout

KEY = "customer_id"
DRIFT_SAMPLE = 0.1  # share of the scored rows the drift check counts


class ScoringModel(NamedTuple):
    """One category's production model, as a scoring worker needs it (small enough to ship to every worker)."""

    category: str
    version: int
    booster: bytes  # XGBoost's UBJSON
    layout: MatrixLayout
    weight: float
    feature_service: str
    run_id: str  # the training run; its models share one drift profile
    profile: DriftProfile | None  # None: registered before drift profiles, not drift-checked


def drift_sample(keys: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Which rows the drift check counts: about ``DRIFT_SAMPLE`` of them, picked by a hash of the key, so the same
    customers whatever the blocks (PSI needs thousands of rows, not millions; counting them all cost 17% of the
    scoring time)."""
    mixed = keys.to_numpy().astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing
    return (mixed >> np.uint64(40)) < np.uint64(DRIFT_SAMPLE * 2**24)


class ModelScorer:
    """A ``map_batches`` callable: each actor loads every booster once, then turns blocks of feature rows into
    rows of the ``customer_propensity`` view (one score column per category, null where no model scores it),
    adding the bin counts of a sample of each block (:func:`drift_sample`) for every training run's drift profile
    to ``counter``."""

    def __init__(
        self,
        models: list[ScoringModel],
        columns: list[str],
        stamp: datetime,
        run_id: str,
        created: datetime,
        counter: ActorHandle,
    ):
        self.columns = columns
        self.counter = counter
        self.groups: dict = {}  # layout -> [(category, booster, weight)]: one matrix per layout
        self.profiles: dict = {}  # layout -> {training run: profile}
        for model in models:
            booster = xgb.Booster(model_file=bytearray(model.booster))
            booster.set_param({"nthread": 1})
            self.groups.setdefault(model.layout, []).append((model.category, booster, model.weight))
            if model.profile is not None:
                self.profiles.setdefault(model.layout, {})[model.run_id] = model.profile
        self.constants = {
            "event_timestamp": pa.scalar(stamp, pa.timestamp("us", "UTC")),
            "created_at": pa.scalar(created, pa.timestamp("us", "UTC")),
            "model_versions": pa.scalar(json.dumps({m.category: m.version for m in models}, sort_keys=True)),
            "scoring_run": pa.scalar(run_id),
        }

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.num_rows
        scores = {column: pa.nulls(rows, pa.float32()) for column in self.columns}
        for layout, models in self.groups.items():
            matrix = layout.matrix(batch)
            profiles = self.profiles.get(layout, {})
            if profiles:
                sample = matrix[drift_sample(batch.column(KEY))]
                for training_run, profile in profiles.items():
                    ray.get(self.counter.add.remote(training_run, profile.count(sample)))
            for category, booster, weight in models:
                scores[category] = pa.array(predict_proba(booster, matrix, weight), pa.float32())
        constants = {name: pa.repeat(value, rows) for name, value in self.constants.items()}
        return pa.table(
            {
                KEY: batch.column(KEY),
                "event_timestamp": constants["event_timestamp"],
                "created_at": constants["created_at"],
                **scores,
                "model_versions": constants["model_versions"],
                "scoring_run": constants["scoring_run"],
            }
        )


def score_dataset(
    rows: ray.data.Dataset,
    models: list[ScoringModel],
    columns: list[str],
    *,
    stamp: datetime,
    run_id: str,
    created: datetime,
    counter: ActorHandle,
    actors: int,
) -> ray.data.Dataset:
    """``rows`` (feature rows with ``customer_id``) scored by a pool of ``actors`` :class:`ModelScorer` actors
    (at most the cluster's CPUs less one: the stages that feed them need a CPU, and actors holding every CPU starve
    them), lazily."""
    actors = max(1, min(actors, cluster_cpus() - 1))
    return rows.map_batches(
        ModelScorer,
        fn_constructor_args=(models, columns, stamp, run_id, created, counter),
        batch_size=None,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
    )
