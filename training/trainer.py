"""Train one XGBoost propensity model per category on Ray, evaluate it, register it and promote the better one.

One training set serves every category (the labels' entity rows joined point-in-time to a feature service); it is
split by cutoff date into train, validation (early stopping) and test (evaluation and promotion), see
:mod:`training.splits`. A Ray task turns it into float32 matrices once and keeps them in the object store; a pool
of Ray actors (one per CPU by default) quantizes them once each and trains the categories as they come, so the
cost of binning thousands of features is paid per actor, not per category. Each actor returns the booster, its
evaluation and plots; the driver writes the registry. A category without enough positives is skipped with the
reason in the report.

A new model becomes ``production`` when its category has none yet, when it beats the current one's ROC AUC on
the same test rows (or, when the features differ, the current one's recorded test AUC), or with ``force``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import ray
import xgboost as xgb
from pydantic import BaseModel, ConfigDict, Field
from ray.util import ActorPool
from sklearn.metrics import roc_auc_score

from propensity.config import Workspace
from propensity.raysession import cluster_cpus, largest_node_cpus
from training.booster import BoosterParams, fit, positive_weight, predict_proba, row_weights
from training.evaluate import evaluate, plot
from training.labels import DEFINITION_FILE, LABEL_PREFIX
from training.matrix import MatrixLayout
from training.plan import ENTITY_TIMESTAMP
from training.registry import ModelCard, ModelRegistry
from training.splits import TimeSplit, split_cutoffs
from training.training_set import build_training_set, write_training_set

SPLITS = ("train", "validation", "test")
Progress = Callable[[str, int, int], None]  # (category just finished, done, total)


class TrainConfig(BaseModel):
    """What ``propensity train`` trains, and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    categories: list[str] | None = Field(None, description="categories to train (default: every labelled one)")
    feature_service: str = Field("propensity_v1", min_length=1)
    workers: int | None = Field(None, ge=1, description="parallel trainers (default: the cluster's CPUs)")
    params: BoosterParams = BoosterParams()
    validation_cutoffs: int = Field(1, ge=1)
    test_cutoffs: int = Field(1, ge=1)
    min_positives: int = Field(5, ge=1, description="fewer positives in any split: the category is skipped")
    force: bool = Field(False, description="promote every new model, better or not")


@dataclass(frozen=True)
class CategoryOutcome:
    """What became of one category in a run."""

    category: str
    card: ModelCard | None  # None: skipped
    note: str  # why it was skipped, or the promotion decision
    promoted: bool = False
    plots: dict[str, bytes] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class TrainingRun:
    """A finished run: its split, its outcomes per category and where its report is."""

    run_id: str
    feature_service: str
    split: TimeSplit
    rows: dict[str, int]
    outcomes: list[CategoryOutcome]
    seconds: float


def train_models(ws: Workspace, config: TrainConfig, progress: Progress | None = None) -> TrainingRun:
    """Train, evaluate, register and (maybe) promote one model per category of the workspace's labels."""
    started = datetime.now(UTC)
    definition = _label_definition(ws)
    categories = _categories(ws, config.categories)
    split = split_cutoffs(
        [date.fromisoformat(c) for c in definition["cutoffs"]],
        int(definition["horizon_days"]),
        validation=config.validation_cutoffs,
        test=config.test_cutoffs,
    )
    target = ws.training_sets_dir / config.feature_service
    dataset = build_training_set(ws.feature_repo, ws.labels_dir, config.feature_service, presorted=True)
    path = write_training_set(dataset, target, overwrite=True)
    return fit_categories(ws, path, categories, split, config, progress, started=started)


def fit_categories(
    ws: Workspace,
    path: Path,
    categories: list[str],
    split: TimeSplit,
    config: TrainConfig,
    progress: Progress | None = None,
    *,
    started: datetime | None = None,
) -> TrainingRun:
    """Train, evaluate, register and (maybe) promote a model per category on the training set at ``path``
    (written by :func:`training.build_training_set` from the workspace's labels)."""
    started = started or datetime.now(UTC)
    definition = _label_definition(ws)
    label_names = set(pq.read_schema(ws.labels_dir / "labels.parquet").names)
    features = [name for name in pq.read_schema(next(path.glob("*.parquet"))).names if name not in label_names]

    data, info = _load_splits.remote(str(path), features, [LABEL_PREFIX + c for c in categories], split)
    registry = ModelRegistry(ws.models_dir)
    champions = {c: registry.load(c) for c in categories if registry.production(c) is not None}
    cpus = config.workers or cluster_cpus()
    actors = min(len(categories), cpus)
    threads = max(1, min(cpus // actors, largest_node_cpus()))
    pool = ActorPool([CategoryTrainer.options(num_cpus=threads).remote(data, config, threads) for _ in range(actors)])
    champion_inputs = {
        c: (m.booster.save_raw("ubj"), m.card.layout, m.card.positive_weight) for c, m in champions.items()
    }
    results = pool.map_unordered(lambda a, c: a.train.remote(c, champion_inputs.get(c)), categories)

    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    common = {
        "run_id": run_id,
        "created_at": started,
        "feature_service": config.feature_service,
        "features": features,
        "split": split.describe(),
        "params": config.params.model_dump(),
        "versions": _library_versions(),
    }
    info = ray.get(info)
    common |= {k: info[k] for k in ("widths", "vocabularies")} | {"data_fingerprint": info["fingerprint"]}
    outcomes = []
    for done, result in enumerate(results, start=1):
        outcomes.append(_record(registry, result, common, definition, config))
        if progress:
            progress(result["category"], done, len(categories))
    outcomes.sort(key=lambda o: o.category)
    seconds = (datetime.now(UTC) - started).total_seconds()
    return TrainingRun(run_id, config.feature_service, split, info["rows"], outcomes, seconds)


@dataclass(frozen=True)
class SplitData:
    """The matrices and label vectors of each split, and their layout."""

    layout: MatrixLayout
    matrices: dict[str, np.ndarray]
    labels: dict[str, dict[str, np.ndarray]]  # split -> label column -> 0/1 vector


def load_splits(
    path: str, features: list[str], label_columns: list[str], split: TimeSplit
) -> tuple[SplitData, dict[str, object]]:
    """Read the training set once into one float32 matrix per split, with its labels (a Ray task in
    :func:`fit_categories`); also return its description (rows per split, array widths, vocabularies and a
    fingerprint), small enough for the driver."""
    source = pads.dataset(path, format="parquet")
    matrices, labels, rows = {}, {}, {}
    digest = hashlib.blake2b(digest_size=16)
    layout = None
    for name in SPLITS:
        stamps = pa.array([datetime(c.year, c.month, c.day, tzinfo=UTC) for c in getattr(split, name)])
        stamps = stamps.cast(source.schema.field(ENTITY_TIMESTAMP).type)
        table = source.to_table(
            columns=[ENTITY_TIMESTAMP, *features, *label_columns],
            filter=pads.field(ENTITY_TIMESTAMP).isin(stamps),
        )
        layout = layout or MatrixLayout.of(table, features)
        matrices[name] = layout.matrix(table)
        labels[name] = {c: table.column(c).to_numpy().astype(np.float32) for c in label_columns}
        rows[name] = table.num_rows
        digest.update(matrices[name].tobytes())
        for column in label_columns:
            digest.update(labels[name][column].tobytes())
    info = {
        "rows": rows,
        "widths": list(layout.widths),
        "vocabularies": [list(v) for v in layout.vocabularies],
        "fingerprint": digest.hexdigest(),
    }
    return SplitData(layout, matrices, labels), info


_load_splits = ray.remote(num_cpus=1, num_returns=2)(load_splits)


@ray.remote
class CategoryTrainer:
    """Holds the quantized training matrix and trains one category per call."""

    def __init__(self, data: SplitData, config: TrainConfig, threads: int):
        self.data = data
        self.config = config
        self.threads = threads
        self.train_matrix, self.validation_matrix = quantize(data, config.params, threads)

    def train(self, category: str, champion: tuple[bytes, MatrixLayout, float] | None) -> dict[str, object]:
        """Fit, evaluate and plot ``category``; compare with ``champion`` (booster, layout, weight) on the test rows."""
        labels = {name: self.data.labels[name][LABEL_PREFIX + category] for name in SPLITS}
        reason = skip_reason(labels, self.config.min_positives)
        if reason:
            return {"category": category, "skipped": reason}
        booster, weight = fit_category(
            self.train_matrix, self.validation_matrix, labels, self.config.params, self.threads
        )
        scores = predict_proba(booster, self.data.matrices["test"], weight)
        evaluation = evaluate(labels["test"], scores, booster, self.data.layout.columns)
        return {
            "category": category,
            "booster": booster.save_raw("ubj"),
            "weight": weight,
            "rounds": booster.num_boosted_rounds(),
            "metrics": evaluation.metrics,
            "top_features": evaluation.top_features,
            "plots": plot(evaluation, category),
            "champion_auc": self._champion_auc(champion, labels["test"]),
        }

    def _champion_auc(self, champion: tuple[bytes, MatrixLayout, float] | None, labels: np.ndarray) -> float | None:
        """The production model's ROC AUC on these test rows, when it reads the same columns."""
        if champion is None or champion[1] != self.data.layout:
            return None
        booster = xgb.Booster(model_file=bytearray(champion[0]))
        return float(roc_auc_score(labels, predict_proba(booster, self.data.matrices["test"], champion[2])))


def quantize(data: SplitData, params: BoosterParams, threads: int) -> tuple[xgb.QuantileDMatrix, xgb.QuantileDMatrix]:
    """The train and validation matrices binned once (validation on the train bins), string features categorical."""
    kinds = {
        "feature_types": data.layout.feature_types,
        "enable_categorical": True,
        "max_bin": params.max_bin,
        "nthread": threads,
    }
    train = xgb.QuantileDMatrix(data.matrices["train"], **kinds)
    return train, xgb.QuantileDMatrix(data.matrices["validation"], ref=train, **kinds)


def skip_reason(labels: dict[str, np.ndarray], min_positives: int) -> str | None:
    """Why a category cannot be trained and judged on these split labels, or None."""
    short = [f"{int(y.sum())} in {name}" for name, y in labels.items() if y.sum() < min_positives]
    if short:
        return f"too few positives ({', '.join(short)}; need {min_positives})"
    if labels["test"].sum() == len(labels["test"]):
        return "no negatives in test"
    return None


def fit_category(
    train: xgb.DMatrix, validation: xgb.DMatrix, labels: dict[str, np.ndarray], params: BoosterParams, threads: int
) -> tuple[xgb.Booster, float]:
    """Fit one category on the shared quantized matrices (only labels and weights change): the booster and the
    positive weight its predictions divide out."""
    weight = positive_weight(labels["train"], params.max_positive_weight)
    for matrix, name in ((train, "train"), (validation, "validation")):
        matrix.set_label(labels[name])
        matrix.set_weight(row_weights(labels[name], weight))
    return fit(params, train, validation, nthread=threads), weight


def _record(
    registry: ModelRegistry, result: dict, common: dict, definition: dict, config: TrainConfig
) -> CategoryOutcome:
    """Register a trained category (skips pass through) and promote it when it wins."""
    category = result["category"]
    if "skipped" in result:
        return CategoryOutcome(category, None, str(result["skipped"]))
    booster = xgb.Booster(model_file=bytearray(result["booster"]))
    card = ModelCard(
        category=category,
        label={"column": LABEL_PREFIX + category, "definition": definition},
        positive_weight=result["weight"],
        rounds=result["rounds"],
        metrics=result["metrics"],
        top_features=result["top_features"],
        **common,
    )
    card = registry.register(card, booster, result["plots"])
    auc = card.metrics["roc_auc"]
    production = registry.production(category)
    champion_auc = result["champion_auc"]
    if production is not None and champion_auc is None:
        champion_auc = registry.card(category, production.version).metrics["roc_auc"]
    if production is None:
        promoted, note = True, "first model"
    elif config.force:
        promoted, note = True, f"forced (v{production.version} had AUC {champion_auc:.3f})"
    elif auc > champion_auc:
        promoted, note = True, f"beats v{production.version} (AUC {champion_auc:.3f})"
    else:
        promoted, note = False, f"v{production.version} stays (AUC {champion_auc:.3f} >= {auc:.3f})"
    if promoted:
        registry.promote(category, card.version, note)
    return CategoryOutcome(category, card, note, promoted, result["plots"])


def _label_definition(ws: Workspace) -> dict[str, object]:
    """The workspace's label definition (cadence, horizon, cutoffs), as ``propensity labels`` wrote it."""
    path = ws.labels_dir / DEFINITION_FILE
    if not path.is_file():
        raise ValueError(f"no labels in {ws.labels_dir}: run `propensity labels` first")
    return json.loads(path.read_text())


def _categories(ws: Workspace, wanted: list[str] | None) -> list[str]:
    """``wanted`` (default: every category with a label column), refusing unknown names."""
    names = pq.read_schema(ws.labels_dir / "labels.parquet").names
    known = sorted(n.removeprefix(LABEL_PREFIX) for n in names if n.startswith(LABEL_PREFIX))
    if not wanted:
        return known
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ValueError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                         f"the labels have: {', '.join(known)}")  # fmt: skip
    return sorted(set(wanted))


def _library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a model depends on."""
    names = ("xgboost", "ray", "feast", "duckdb", "pyarrow", "numpy", "scikit-learn")
    return {"python": platform.python_version(), **{n: importlib.metadata.version(n) for n in names}}
