"""Ray Train's data-parallel XGBoost, for training sets that outgrow one worker.

All categories train in one Ray Train run (``XGBoostTrainer``), one after another across every worker. Each worker
takes its shard of the train, validation and test rows and bins its train and validation shards once, block by
block, so it never holds their float matrix, into pages on local disk (:mod:`training.quantized`); XGBoost's
collective merges the workers' bin sketches, gradient histograms and validation log loss, so all workers grow the
same trees and early stopping sees the whole validation split. Per category only the labels and weights change.
Each worker then scores its test shard and sends the labels and scores through a Ray queue; the driver evaluates,
plots and registers each category as its last shard arrives, so progress is live.

Before that one Ray task surveys the set: the matrix layout (string vocabularies from the train split's string
columns alone), and, streaming every split in row order, the rows and positives per split and label and the same
data fingerprint as the per-category strategy's.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import ray
import xgboost as xgb
from ray.data.expressions import col
from ray.train import RunConfig, ScalingConfig
from ray.train.xgboost import XGBoostTrainer
from ray.util.queue import Queue

from propensity.drift import REFERENCE_ROWS, DriftProfile, RowSample
from propensity.errors import BadInputError
from propensity.raysession import cluster_cpus, worker_threads
from training.booster import BoosterParams, positive_weight, predict_proba
from training.config import TrainConfig
from training.fitting import SPLITS, Champion, category_result, fit_category, quantile_options, skip_reason
from training.labels import LABEL_PREFIX
from training.matrix import Fingerprint, MatrixLayout, is_array, is_string
from training.plan import ENTITY_TIMESTAMP
from training.quantized import page_directory, quantized
from training.results import CategoryResult, SetDescription, ShardScores, SkippedCategory, TrainedCategory, TrainingJob
from training.splits import TimeSplit, cutoff_stamps, split_filter


@dataclass(frozen=True)
class WorkerTask:
    """What every Ray Train worker fits: the matrix layout, the booster parameters, the positive weight of each
    category to train, the production models to score on the same test rows, its threads, and the queue its test
    shards go to."""

    layout: MatrixLayout
    params: BoosterParams
    weights: dict[str, float]
    champions: dict[str, Champion]
    threads: int
    queue: Queue


def train(job: TrainingJob, config: TrainConfig, storage: Path) -> tuple[SetDescription, Iterator[CategoryResult]]:
    """The training set's description, and each category's result as it finishes (skipped ones first).
    ``storage`` holds Ray Train's run state (shared storage on a cluster) and is removed at the end."""
    description = ray.get(_survey.remote(str(job.path), job.features, _label_columns(job.categories), job.split))
    weights: dict[str, float] = {}
    skipped = []
    for category in job.categories:
        positives = {name: description.positives[name][LABEL_PREFIX + category] for name in SPLITS}
        reason = skip_reason(positives, description.rows, config.min_positives)
        if reason:
            skipped.append(SkippedCategory(category, reason))
        else:
            train_rows = description.rows["train"]
            weights[category] = positive_weight(positives["train"], train_rows, config.params.max_positive_weight)
    if not weights:
        return description, iter(skipped)
    return description, _chain(skipped, _train(job, description, weights, config, storage))


def _chain(first: list[CategoryResult], then: Iterator[CategoryResult]) -> Iterator[CategoryResult]:
    yield from first
    yield from then


def survey(path: str, features: list[str], label_columns: list[str], split: TimeSplit) -> SetDescription:
    """The training set's description, with its positives per split and label column, read as a stream (a Ray
    task in :func:`train`)."""
    source = pads.dataset(path, format="parquet")
    layout = _layout(source, features, split_filter(source, split, "train"))
    fingerprint = Fingerprint(SPLITS, label_columns)
    rows = dict.fromkeys(SPLITS, 0)
    positives = {name: dict.fromkeys(label_columns, 0) for name in SPLITS}
    sample = RowSample(REFERENCE_ROWS)
    for name in SPLITS:
        for batch in source.to_batches(columns=[*features, *label_columns], filter=split_filter(source, split, name)):
            table = pa.Table.from_batches([batch])
            labels = {c: table.column(c).to_numpy().astype(np.float32) for c in label_columns}
            matrix = layout.matrix(table)
            fingerprint.update(name, matrix, labels)
            if name == "train":
                sample.add(matrix)
            rows[name] += table.num_rows
            for column, values in labels.items():
                positives[name][column] += int(np.count_nonzero(values))
    profile = DriftProfile.of(sample.matrix, layout.columns)
    return SetDescription(layout, rows, fingerprint.hexdigests(), profile, positives)


_survey = ray.remote(num_cpus=1)(survey)


def _layout(source: pads.Dataset, features: list[str], where: pads.Expression) -> MatrixLayout:
    """The layout of ``features``: array widths from the first block where every array feature has a value,
    vocabularies from all the rows ``where`` selects (their string columns only)."""
    arrays = [name for name in features if is_array(source.schema.field(name).type)]
    strings = [name for name in features if is_string(source.schema.field(name).type)]
    for batch in source.to_batches(columns=features, filter=where):
        if batch.num_rows and all(batch.column(name).null_count < batch.num_rows for name in arrays):
            sample = MatrixLayout.of(pa.Table.from_batches([batch]), features)
            return sample.with_vocabularies(source.to_table(columns=strings, filter=where))
    raise BadInputError(f"no row of the train split has every array feature ({', '.join(arrays)}) set")


def _train(
    job: TrainingJob, description: SetDescription, weights: dict[str, float], config: TrainConfig, storage: Path
) -> Iterator[TrainedCategory]:
    """Run the Ray Train job and yield each category's result as its last test shard arrives."""
    cpus = cluster_cpus()
    workers = min(config.workers or cpus, *description.rows.values())  # every worker gets rows of every split
    layout = description.layout
    champions = {c: champion for c, champion in job.champions.items() if c in weights and champion.layout == layout}
    threads = worker_threads(cpus, workers)
    task = WorkerTask(layout, config.params, weights, champions, threads, Queue(actor_options={"num_cpus": 0}))
    data = ray.data.read_parquet(str(job.path), columns=[ENTITY_TIMESTAMP, *layout.features, *_label_columns(weights)])
    stamp_type = pads.dataset(str(job.path), format="parquet").schema.field(ENTITY_TIMESTAMP).type
    # Read before the workers start: they hold every CPU they are given, and Ray Data's reads need CPUs too.
    splits = {
        name: data.filter(
            expr=col(ENTITY_TIMESTAMP).is_in(cutoff_stamps(job.split, name, stamp_type).to_pylist())
        ).materialize()
        for name in SPLITS
    }
    trainer = XGBoostTrainer(
        _train_loop,
        train_loop_config={"task": task},
        scaling_config=ScalingConfig(num_workers=workers, resources_per_worker={"CPU": threads}),
        run_config=RunConfig(name="train", storage_path=str(storage.resolve())),
        datasets=splits,
    )
    shards: dict[str, list[ShardScores]] = {}
    with ThreadPoolExecutor(1) as pool:
        fitting = pool.submit(trainer.fit)
        try:
            while not (fitting.done() and task.queue.empty()):
                try:
                    shard: ShardScores = task.queue.get(timeout=1)
                except Empty:
                    continue
                shards.setdefault(shard.category, []).append(shard)
                if len(shards[shard.category]) == workers:
                    yield _result(shards.pop(shard.category), task)
            fitting.result()
        finally:
            shutil.rmtree(storage, ignore_errors=True)


def _result(shards: list[ShardScores], task: WorkerTask) -> TrainedCategory:
    """One category's result from all its workers' test shards."""
    shards = sorted(shards, key=lambda shard: shard.rank)
    first = shards[0]
    booster = xgb.Booster(model_file=bytearray(first.booster))
    labels, scores = (np.concatenate([getattr(shard, part) for shard in shards]) for part in ("labels", "scores"))
    rival = None if first.champion_scores is None else np.concatenate([shard.champion_scores for shard in shards])
    weight = task.weights[first.category]
    return category_result(first.category, booster, weight, labels, scores, rival, task.layout.columns)


def _train_loop(config: dict[str, WorkerTask]) -> None:
    """One Ray Train worker: bin its shards once, then fit every category with the others and send its test
    shard's labels and scores to the driver."""
    task = config["task"]
    pages = page_directory()
    try:
        _fit_shards(task, pages)
    finally:
        shutil.rmtree(pages, ignore_errors=True)


def _fit_shards(task: WorkerTask, pages: Path) -> None:
    """:func:`_train_loop`'s work, the quantized pages in the directory ``pages``."""
    shards = {name: ray.train.get_dataset_shard(name).materialize() for name in SPLITS}
    options = quantile_options(task.layout, task.params, task.threads)
    train_matrix = quantized(_matrices(shards["train"], task.layout), options, pages / "train")
    validation_matrix = quantized(
        _matrices(shards["validation"], task.layout), options, pages / "validation", ref=train_matrix
    )
    test_matrix = task.layout.matrix(pa.concat_tables(_blocks(shards["test"])))
    labels = {name: _shard_labels(shard, list(task.weights)) for name, shard in shards.items()}
    rank = ray.train.get_context().get_world_rank()
    for category, weight in task.weights.items():
        y = {name: labels[name][category] for name in SPLITS}
        booster = fit_category(train_matrix, validation_matrix, y, weight, task.params, task.threads)
        champion = task.champions.get(category)
        shard = ShardScores(
            category=category,
            rank=rank,
            booster=booster.save_raw("ubj") if rank == 0 else None,
            labels=y["test"],
            scores=predict_proba(booster, test_matrix, weight),
            champion_scores=champion.scores(test_matrix) if champion else None,
        )
        task.queue.put(shard)


def _label_columns(categories: Iterable[str]) -> list[str]:
    """The training set's label column of each category."""
    return [LABEL_PREFIX + c for c in categories]


def _blocks(shard: ray.data.Dataset) -> Iterator[pa.Table]:
    """The non-empty blocks of a materialized shard (never none: every shard has rows), always in one order."""
    for block in shard.iter_batches(batch_format="pyarrow", batch_size=None):
        if block.num_rows:
            yield block


def _shard_labels(shard: ray.data.Dataset, categories: list[str]) -> dict[str, np.ndarray]:
    """Each category's labels over the shard's rows, in block order."""
    table = pa.concat_tables(block.select(_label_columns(categories)) for block in _blocks(shard))
    return {c: table.column(LABEL_PREFIX + c).to_numpy().astype(np.float32) for c in categories}


def _matrices(shard: ray.data.Dataset, layout: MatrixLayout) -> Callable[[], Iterator[np.ndarray]]:
    """Passes over a materialized shard's blocks as float32 matrices, for binning without its whole matrix."""
    return lambda: (layout.matrix(block) for block in _blocks(shard))
