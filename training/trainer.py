"""Train one XGBoost propensity model per category on Ray, evaluate it, register it and promote the better one.

One training set serves every category (the labels' entity rows joined point-in-time to a feature service); it is
split by cutoff date into train, validation (early stopping) and test (evaluation and promotion), see
:mod:`training.splits`. Two strategies, chosen by the size of the training set (``TrainConfig.strategy``):

- ``per-category`` (sets that fit one worker): a Ray task turns the set into float32 matrices once and keeps them
  in the object store; a pool of Ray actors (one per CPU by default) quantizes them once each and trains the
  categories as they come, so the cost of binning thousands of features is paid per actor, not per category.
- ``data-parallel`` (larger sets): Ray Train's XGBoost trainer spreads the rows over the workers and trains the
  categories one after another across all of them, see :mod:`training.data_parallel`.

Either way each category comes back as its booster, evaluation and plots, and the driver writes the registry. A
category without enough positives is skipped with the reason in the report. A new model becomes ``production``
when its category has none yet, when it beats the current one's ROC AUC on the same test rows (or, when the
features differ, the current one's recorded test AUC), or with ``force``.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import ray
import xgboost as xgb
from ray.actor import ActorHandle
from ray.util import ActorPool

from propensity.config import Workspace
from propensity.drift import REFERENCE_ROWS, DriftProfile, RowSample
from propensity.errors import BadInputError
from propensity.progress import Progress
from propensity.raysession import cluster_cpus, smallest_node_memory, worker_threads
from propensity.runs import new_run_id
from training import data_parallel
from training.booster import positive_weight, predict_proba
from training.config import BoosterParams, TrainConfig, TrainingSetRequest
from training.fitting import SPLITS, Champion, category_result, fit_category, quantile_options, skip_reason
from training.inputs import current_training_set
from training.joining import join_training_set
from training.labels import LABEL_FILE, LABEL_PREFIX, read_definition
from training.matrix import Fingerprint, MatrixLayout
from training.quantized import page_directory, quantized, row_blocks
from training.registry import ModelCard, ModelRegistry
from training.results import CategoryResult, SetDescription, SkippedCategory, TrainingJob
from training.splits import TimeSplit, split_cutoffs, split_filter

RETRIES = 2  # restarts of a trainer whose process died, and retries of the category it was training


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
    strategy: str = "per-category"
    reused_training_set: Path | None = None  # a current training set trained on without joining again


def train_models(
    ws: Workspace, config: TrainConfig, progress: Progress | None = None, *, training_set: Path | None = None
) -> TrainingRun:
    """Train, evaluate, register and (maybe) promote one model per category of the workspace's labels, on
    ``training_set`` (written by :func:`training.write_training_set` from those labels), else on the workspace's
    training set when it is current (:func:`training.inputs.current_training_set`), else on a new one."""
    started = datetime.now(UTC)
    definition = read_definition(ws)
    categories = _categories(ws, config.categories)
    split = split_cutoffs(
        [date.fromisoformat(c) for c in definition["cutoffs"]],
        int(definition["horizon_days"]),
        validation=config.validation_cutoffs,
        test=config.test_cutoffs,
    )
    reused = None if training_set else current_training_set(ws, config.feature_service)
    training_set = training_set or reused or join_training_set(ws, TrainingSetRequest(config.feature_service))
    run = fit_categories(ws, training_set, categories, split, config, progress, started=started)
    return replace(run, reused_training_set=reused)


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
    (written by :func:`training.build_training_set` from the workspace's labels); ``progress`` counts the
    categories done."""
    started = started or datetime.now(UTC)
    run_id = new_run_id(started)
    definition = read_definition(ws)
    label_names = set(pq.read_schema(ws.labels_dir / LABEL_FILE).names)
    features = [name for name in pq.read_schema(next(path.glob("*.parquet"))).names if name not in label_names]
    registry = ModelRegistry(ws.models_dir)
    champions = {}
    for category in categories:
        if registry.production(category) is not None:
            model = registry.load(category)
            champions[category] = Champion(model.booster.save_raw("ubj"), model.card.layout, model.card.positive_weight)
    job = TrainingJob(path, features, categories, split, champions)
    strategy = choose_strategy(path, config)
    if strategy == "per-category":
        description, results = _per_category(job, config)
    else:
        description, results = data_parallel.train(job, config, ws.models_dir / ".ray-train" / run_id)
    common = {
        "run_id": run_id,
        "created_at": started,
        "feature_service": config.feature_service,
        "features": features,
        "split": split.describe(),
        "params": config.params.model_dump(),
        "versions": _library_versions(),
        "widths": list(description.layout.widths),
        "vocabularies": [list(v) for v in description.layout.vocabularies],
    }
    outcomes = []
    for done, result in enumerate(results, start=1):
        outcomes.append(_record(registry, result, common, description, definition, config))
        if progress:
            progress(done, len(categories))
    outcomes.sort(key=lambda o: o.category)
    seconds = (datetime.now(UTC) - started).total_seconds()
    return TrainingRun(run_id, config.feature_service, split, description.rows, outcomes, seconds, strategy)


def choose_strategy(path: Path, config: TrainConfig) -> str:
    """``config.strategy``, with ``auto`` resolved: data-parallel when the training set, uncompressed, is larger
    than ``max_worker_gib`` (by default a quarter of the smallest node's memory), as the per-category strategy
    holds the whole set's float matrices on every node that trains."""
    if config.strategy != "auto":
        return config.strategy
    limit = config.max_worker_gib * 2**30 if config.max_worker_gib else smallest_node_memory() / 4
    return "data-parallel" if uncompressed_bytes(path) > limit else "per-category"


def uncompressed_bytes(path: Path) -> int:
    """The size of the Parquet data set at ``path`` once decoded, from its files' metadata."""
    total = 0
    for file in sorted(path.glob("*.parquet")):
        metadata = pq.read_metadata(file)
        total += sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    return total


def _per_category(job: TrainingJob, config: TrainConfig) -> tuple[SetDescription, Iterator[CategoryResult]]:
    """The training set's description and the results of a pool of actors that each train whole categories."""
    label_columns = [LABEL_PREFIX + c for c in job.categories]
    data, description = _load_splits.remote(str(job.path), job.features, label_columns, job.split)
    cpus = config.workers or cluster_cpus()
    actors = min(len(job.categories), cpus)
    threads = worker_threads(cpus, actors)
    trainers = [CategoryTrainer.options(num_cpus=threads).remote(data, config, threads) for _ in range(actors)]
    results = ActorPool(trainers).map_unordered(
        lambda actor, c: actor.train.remote(c, job.champions.get(c)), job.categories
    )
    return ray.get(description), _closing(trainers, data, results)


def _closing(
    trainers: list[ActorHandle], data: ray.ObjectRef, results: Iterator[CategoryResult]
) -> Iterator[CategoryResult]:
    """``results``, holding a reference to the trainers' ``data`` until the last one (a trainer restarted after
    its process died is constructed from it again); then the trainers drop their pages."""
    try:
        yield from results
    finally:
        ray.get([trainer.close.remote() for trainer in trainers])
        del data


@dataclass(frozen=True)
class SplitData:
    """The matrices and label vectors of each split, and their layout."""

    layout: MatrixLayout
    matrices: dict[str, np.ndarray]
    labels: dict[str, dict[str, np.ndarray]]  # split -> label column -> 0/1 vector


def load_splits(
    path: str, features: list[str], label_columns: list[str], split: TimeSplit
) -> tuple[SplitData, SetDescription]:
    """Read the training set once into one float32 matrix per split, with its labels (a Ray task in
    :func:`fit_categories`); also return its description, small enough for the driver."""
    source = pads.dataset(path, format="parquet")
    matrices, labels, rows = {}, {}, {}
    fingerprint = Fingerprint(SPLITS, label_columns)
    layout = None
    for name in SPLITS:
        table = source.to_table(columns=[*features, *label_columns], filter=split_filter(source, split, name))
        layout = layout or MatrixLayout.of(table, features)
        matrices[name] = layout.matrix(table)
        labels[name] = {c: table.column(c).to_numpy().astype(np.float32) for c in label_columns}
        rows[name] = table.num_rows
        fingerprint.update(name, matrices[name], labels[name])
    sample = RowSample(REFERENCE_ROWS)
    sample.add(matrices["train"])
    description = SetDescription(layout, rows, fingerprint.hexdigests(), DriftProfile.of(sample.matrix, layout.columns))
    return SplitData(layout, matrices, labels), description


_load_splits = ray.remote(num_cpus=1, num_returns=2)(load_splits)


@ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES)
class CategoryTrainer:
    """Holds the quantized training matrix and trains one category per call. A trainer whose process dies is
    restarted (it re-quantizes) and its category trained again: training is deterministic, so the model is the
    one an undisturbed run would have made."""

    def __init__(self, data: SplitData, config: TrainConfig, threads: int):
        self.data = data
        self.config = config
        self.threads = threads
        self.pages = page_directory()
        self.train_matrix, self.validation_matrix = quantize(data, config.params, threads, self.pages)

    def train(self, category: str, champion: Champion | None) -> CategoryResult:
        """Fit, evaluate and plot ``category``; score the production ``champion`` on the same test rows."""
        labels = {name: self.data.labels[name][LABEL_PREFIX + category] for name in SPLITS}
        positives = {name: int(np.count_nonzero(y)) for name, y in labels.items()}
        rows = {name: len(y) for name, y in labels.items()}
        reason = skip_reason(positives, rows, self.config.min_positives)
        if reason:
            return SkippedCategory(category, reason)
        params = self.config.params
        weight = positive_weight(positives["train"], rows["train"], params.max_positive_weight)
        booster = fit_category(self.train_matrix, self.validation_matrix, labels, weight, params, self.threads)
        test = self.data.matrices["test"]
        rival = champion.scores(test) if champion and champion.layout == self.data.layout else None
        scores = predict_proba(booster, test, weight)
        return category_result(category, booster, weight, labels["test"], scores, rival, self.data.layout.columns)

    def close(self) -> None:
        """Drop the quantized matrices and their pages."""
        del self.train_matrix, self.validation_matrix
        shutil.rmtree(self.pages, ignore_errors=True)


def quantize(data: SplitData, params: BoosterParams, threads: int, pages: Path) -> tuple[xgb.DMatrix, xgb.DMatrix]:
    """The train and validation matrices binned once (validation on the train bins), string features categorical,
    their pages in the directory ``pages`` (see :mod:`training.quantized`)."""
    kinds = quantile_options(data.layout, params, threads)
    train = quantized(row_blocks(data.matrices["train"]), kinds, pages / "train")
    return train, quantized(row_blocks(data.matrices["validation"]), kinds, pages / "validation", ref=train)


def _record(
    registry: ModelRegistry,
    result: CategoryResult,
    common: dict,
    description: SetDescription,
    definition: dict,
    config: TrainConfig,
) -> CategoryOutcome:
    """Register a trained category (skips pass through) and promote it when it wins; ``description`` gives the
    training set's drift profile and fingerprints."""
    category = result.category
    if isinstance(result, SkippedCategory):
        return CategoryOutcome(category, None, result.reason)
    booster = xgb.Booster(model_file=bytearray(result.booster))
    card = ModelCard(
        category=category,
        label={"column": LABEL_PREFIX + category, "definition": definition},
        positive_weight=result.weight,
        rounds=result.rounds,
        metrics=result.metrics,
        top_features=result.top_features,
        data_fingerprint=description.fingerprints[LABEL_PREFIX + category],
        **common,
    )
    card = registry.register(card, booster, result.plots, description.profile)
    auc = card.metrics["roc_auc"]
    production = registry.production(category)
    champion_auc = result.champion_auc
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
    return CategoryOutcome(category, card, note, promoted, result.plots)


def _categories(ws: Workspace, wanted: list[str] | None) -> list[str]:
    """``wanted`` (default: every category with a label column), refusing unknown names."""
    names = pq.read_schema(ws.labels_dir / LABEL_FILE).names
    known = sorted(n.removeprefix(LABEL_PREFIX) for n in names if n.startswith(LABEL_PREFIX))
    if not wanted:
        return known
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise BadInputError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                         f"the labels have: {', '.join(known)}")  # fmt: skip
    return sorted(set(wanted))


def _library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a model depends on."""
    names = ("xgboost", "ray", "feast", "duckdb", "pyarrow", "numpy", "scikit-learn")
    return {"python": platform.python_version(), **{n: importlib.metadata.version(n) for n in names}}
