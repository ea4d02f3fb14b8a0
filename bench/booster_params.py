r"""Compare booster parameter sets on a workspace's training set: test ROC AUC and boosting time per category.

One process reads the training set once (``training.trainer.load_splits``), quantizes the train and validation
matrices once, then fits every category with each parameter set in turn (plain ``xgboost.train`` on both threads,
early stopping as in training), scoring the test split. The parameter sets share the bins, so only the boosting
is timed. Each set is a JSON object of ``BoosterParams`` fields overriding the defaults; ``{}`` is the defaults.

    python bench/booster_params.py --workdir data \
        '[{"max_depth": 6, "subsample": 0.8, "early_stopping_rounds": 20}, {}]'

The last line is ``median_auc=<first set>,<second set>,...``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from training.booster import positive_weight, predict_proba
from training.config import BoosterParams, TrainConfig
from training.fitting import SPLITS, fit_category, quantile_options, skip_reason
from training.labels import LABEL_PREFIX
from training.splits import split_cutoffs
from training.trainer import load_splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="a workspace with labels and a training set")
    parser.add_argument("variants", help="a JSON list of BoosterParams overrides")
    args = parser.parse_args()
    variants = [BoosterParams(**overrides) for overrides in json.loads(args.variants)]
    definition = json.loads((args.workdir / "labels" / "_labels.json").read_text())
    split = split_cutoffs([date.fromisoformat(c) for c in definition["cutoffs"]], definition["horizon_days"])
    path = args.workdir / "training_sets" / TrainConfig().feature_service
    names = pq.read_schema(next(path.glob("*.parquet"))).names
    labels = [n for n in names if n.startswith(LABEL_PREFIX)]
    features = [n for n in names if n not in labels and n not in ("customer_id", "event_timestamp")]
    data, description = load_splits(str(path), features, labels, split)
    print(f"rows per split: {description.rows}", flush=True)
    options = quantile_options(data.layout, BoosterParams(), threads=2)
    train = xgb.QuantileDMatrix(data.matrices["train"], **options)
    validation = xgb.QuantileDMatrix(data.matrices["validation"], ref=train, **options)
    aucs: list[list[float]] = [[] for _ in variants]
    seconds = [0.0 for _ in variants]
    for column in labels:
        y = {name: data.labels[name][column] for name in SPLITS}
        positives = {name: int(v.sum()) for name, v in y.items()}
        if skip_reason(positives, {name: len(v) for name, v in y.items()}, TrainConfig().min_positives):
            continue
        for i, params in enumerate(variants):
            weight = positive_weight(positives["train"], len(y["train"]), params.max_positive_weight)
            started = time.perf_counter()
            booster = fit_category(train, validation, y, weight, params, threads=2)
            seconds[i] += time.perf_counter() - started
            aucs[i].append(float(roc_auc_score(y["test"], predict_proba(booster, data.matrices["test"], weight))))
            print(f"{column} set {i}: AUC {aucs[i][-1]:.4f}, {booster.num_boosted_rounds()} rounds", flush=True)
    for i, params in enumerate(variants):
        print(f"set {i}: median AUC {statistics.median(aucs[i]):.4f}, mean {statistics.mean(aucs[i]):.4f}, "
              f"boosting {seconds[i]:.1f} s ({seconds[i] / seconds[0]:.2f}x set 0), {params.model_dump()}")  # fmt: skip
    print("median_auc=" + ",".join(f"{statistics.median(a):.4f}" for a in aucs))


if __name__ == "__main__":
    main()
