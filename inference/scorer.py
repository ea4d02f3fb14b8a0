"""Scoring blocks of feature rows with every production model: the Ray Data actor that holds the boosters."""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow as pa
import ray
import xgboost as xgb
from ray.actor import ActorHandle

from inference.models import ScoringModel
from training.booster import predict_proba

KEY = "customer_id"


class ModelScorer:
    """A ``map_batches`` callable: each actor loads every booster once, then turns blocks of feature rows into
    rows of the ``customer_propensity`` view (one score column per category, null where no model scores it),
    adding each block's bin counts for every training run's drift profile to ``counter``."""

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
            for training_run, profile in self.profiles.get(layout, {}).items():
                ray.get(self.counter.add.remote(training_run, profile.count(matrix)))
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
    """``rows`` (feature rows with ``customer_id``) scored by up to ``actors`` :class:`ModelScorer` actors, lazily."""
    return rows.map_batches(
        ModelScorer,
        fn_constructor_args=(models, columns, stamp, run_id, created, counter),
        batch_size=None,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
    )
