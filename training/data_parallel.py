"""Ray Train's data-parallel XGBoost, for training sets that outgrow one worker.

All categories train in one Ray Train run (``XGBoostTrainer``), one after another across every worker. Each worker
takes its shard of the train, validation and test rows and bins its train and validation shards once, block by
block (a ``QuantileDMatrix`` fed by an iterator, so it never holds their float matrix); XGBoost's collective
merges the workers' bin sketches, gradient histograms and validation log loss, so all workers grow the same trees
and early stopping sees the whole validation split. Per category only the labels and weights change. Each worker
then scores its test shard and sends the labels and scores through a Ray queue; the driver evaluates, plots and
registers each category as its last shard arrives, so progress is live.

Before that one Ray task surveys the set: the matrix layout (string vocabularies from the train split's string
columns alone), and, streaming every split in row order, the rows and positives per split and label and the same
data fingerprint as the per-category strategy's.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
from training.fitting import SPLITS, Champion, category_result, fit_category, quantile_options, skip_reason
from training.labels import LABEL_PREFIX
from training.matrix import Fingerprint, MatrixLayout, is_array, is_string
from training.plan import ENTITY_TIMESTAMP
from training.splits import TimeSplit, cutoff_stamps, split_filter

Result = dict[str, object]


def train(
    path: Path,
    features: list[str],
    categories: list[str],
    split: TimeSplit,
    params: BoosterParams,
    min_positives: int,
    workers: int | None,
    champions: dict[str, Champion],
    storage: Path,
) -> tuple[dict[str, object], Iterator[Result]]:
    """The training set's description, and each category's result as it finishes (skipped ones first).
    ``storage`` holds Ray Train's run state (shared storage on a cluster) and is removed at the end."""
    label_columns = [LABEL_PREFIX + c for c in categories]
    layout, info = ray.get(_survey.remote(str(path), features, label_columns, split))
    weights: dict[str, float] = {}
    skipped = []
    for category in categories:
        positives = {name: info["positives"][name][LABEL_PREFIX + category] for name in SPLITS}
        reason = skip_reason(positives, info["rows"], min_positives)
        if reason:
            skipped.append({"category": category, "skipped": reason})
        else:
            weights[category] = positive_weight(positives["train"], info["rows"]["train"], params.max_positive_weight)
    rivals = {c: champion for c, champion in champions.items() if c in weights and champion.layout == layout}
    if not weights:
        return info, iter(skipped)
    return info, _chain(skipped, _train(path, layout, split, info["rows"], params, weights, rivals, workers, storage))


def _chain(first: list[Result], then: Iterator[Result]) -> Iterator[Result]:
    yield from first
    yield from then


def survey(path: str, features: list[str], label_columns: list[str], split: TimeSplit) -> tuple[MatrixLayout, dict]:
    """The training set's matrix layout, and its rows, positives and fingerprint per label column and the train
    split's drift profile, read as a stream (a Ray task in :func:`train`)."""
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
    info = {
        "rows": rows,
        "positives": positives,
        "widths": list(layout.widths),
        "vocabularies": [list(v) for v in layout.vocabularies],
        "fingerprints": fingerprint.hexdigests(),
        "profile": DriftProfile.of(sample.matrix, layout.columns),
    }
    return layout, info


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
    path: Path,
    layout: MatrixLayout,
    split: TimeSplit,
    rows: dict[str, int],
    params: BoosterParams,
    weights: dict[str, float],
    champions: dict[str, Champion],
    workers: int | None,
    storage: Path,
) -> Iterator[Result]:
    """Run the Ray Train job and yield each category's result as its last test shard arrives."""
    cpus = cluster_cpus()
    workers = min(workers or cpus, *rows.values())  # every worker gets rows of every split
    threads = worker_threads(cpus, workers)
    queue = Queue(actor_options={"num_cpus": 0})
    columns = [ENTITY_TIMESTAMP, *layout.features, *(LABEL_PREFIX + c for c in weights)]
    data = ray.data.read_parquet(str(path), columns=columns)
    stamp_type = pads.dataset(str(path), format="parquet").schema.field(ENTITY_TIMESTAMP).type
    # Read before the workers start: they hold every CPU they are given, and Ray Data's reads need CPUs too.
    splits = {
        name: data.filter(
            expr=col(ENTITY_TIMESTAMP).is_in(cutoff_stamps(split, name, stamp_type).to_pylist())
        ).materialize()
        for name in SPLITS
    }
    trainer = XGBoostTrainer(
        _train_loop,
        train_loop_config={
            "layout": layout,
            "params": params,
            "weights": weights,
            "champions": champions,
            "threads": threads,
            "queue": queue,
        },
        scaling_config=ScalingConfig(num_workers=workers, resources_per_worker={"CPU": threads}),
        run_config=RunConfig(name="train", storage_path=str(storage.resolve())),
        datasets=splits,
    )
    shards: dict[str, list[tuple]] = {}
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(trainer.fit)
        try:
            while not (job.done() and queue.empty()):
                try:
                    category, *shard = queue.get(timeout=1)
                except Empty:
                    continue
                shards.setdefault(category, []).append(shard)
                if len(shards[category]) == workers:
                    yield _result(category, shards.pop(category), weights[category], layout)
            job.result()
        finally:
            shutil.rmtree(storage, ignore_errors=True)


def _result(category: str, shards: list[tuple], weight: float, layout: MatrixLayout) -> Result:
    """One category's result from its workers' test shards: (rank, booster or None, labels, scores, rival)."""
    shards.sort(key=lambda shard: shard[0])
    booster = xgb.Booster(model_file=bytearray(shards[0][1]))
    labels, scores = (np.concatenate([shard[i] for shard in shards]) for i in (2, 3))
    rival = None if shards[0][4] is None else np.concatenate([shard[4] for shard in shards])
    return category_result(category, booster, weight, labels, scores, rival, layout.columns)


def _train_loop(config: dict) -> None:
    """One Ray Train worker: bin its shards once, then fit every category with the others and send its test
    shard's labels and scores to the driver."""
    layout: MatrixLayout = config["layout"]
    params: BoosterParams = config["params"]
    threads: int = config["threads"]
    shards = {name: ray.train.get_dataset_shard(name).materialize() for name in SPLITS}
    options = quantile_options(layout, params, threads)
    del options["feature_types"]  # an iterator gives them with each block
    train_matrix = xgb.QuantileDMatrix(_Blocks(shards["train"], layout), **options)
    validation_matrix = xgb.QuantileDMatrix(_Blocks(shards["validation"], layout), ref=train_matrix, **options)
    test_matrix = layout.matrix(pa.concat_tables(_blocks(shards["test"])))
    labels = {name: _label_columns(shard, list(config["weights"])) for name, shard in shards.items()}
    rank = ray.train.get_context().get_world_rank()
    for category, weight in config["weights"].items():
        y = {name: labels[name][category] for name in SPLITS}
        booster = fit_category(train_matrix, validation_matrix, y, weight, params, threads)
        champion = config["champions"].get(category)
        config["queue"].put(
            (
                category,
                rank,
                booster.save_raw("ubj") if rank == 0 else None,
                y["test"],
                predict_proba(booster, test_matrix, weight),
                champion.scores(test_matrix) if champion else None,
            )
        )


def _blocks(shard: ray.data.Dataset) -> Iterator[pa.Table]:
    """The non-empty blocks of a materialized shard (never none: every shard has rows), always in one order."""
    for block in shard.iter_batches(batch_format="pyarrow", batch_size=None):
        if block.num_rows:
            yield block


def _label_columns(shard: ray.data.Dataset, categories: list[str]) -> dict[str, np.ndarray]:
    """Each category's labels over the shard's rows, in block order."""
    table = pa.concat_tables(block.select([LABEL_PREFIX + c for c in categories]) for block in _blocks(shard))
    return {c: table.column(LABEL_PREFIX + c).to_numpy().astype(np.float32) for c in categories}


class _Blocks(xgb.DataIter):
    """A materialized shard's blocks as float32 matrices, for binning without the shard's whole matrix."""

    def __init__(self, shard: ray.data.Dataset, layout: MatrixLayout):
        self._shard = shard
        self._layout = layout
        self._iterator: Iterator[pa.Table] | None = None
        super().__init__(release_data=True)

    def reset(self) -> None:
        self._iterator = None

    def next(self, input_data) -> bool:
        if self._iterator is None:
            self._iterator = _blocks(self._shard)
        block = next(self._iterator, None)
        if block is None:
            return False
        input_data(data=self._layout.matrix(block), feature_types=self._layout.feature_types)
        return True
