"""Benchmark per-category model training: ours on Ray against plain in-process ``xgboost.train``.

Workload: the training-set benchmark's workspace (10,000 synthetic customers over 2025, 2,224 features, of which
one 384-d embedding, so 2,607 matrix columns), monthly labels from April (min. 90 days of history) and the
training set joined from them, once. Then, on that same training set:

- **baseline**: one process loads the matrices, quantizes the training matrix once (an in-memory
  ``QuantileDMatrix``, both cores) and trains every category one after another with ``xgboost.train`` (same
  parameters, early stopping, both cores), then scores and evaluates the test split: the best one machine does
  without Ray;
- **ours**: ``training.trainer.fit_categories`` (a Ray task loads the matrices once; a pool of actors quantizes
  them once each into pages on local disk, see :mod:`training.quantized`, and trains the categories as they
  come; evaluation, plots and the registry write included), with 2 workers (two actors of one thread) and with
  1 worker (one actor);
- **ours, data-parallel**: the same with ``strategy="data-parallel"`` (Ray Train's XGBoost trainer, 2 workers of
  one thread, every category across both), the path for training sets that outgrow one worker.

Each contender runs in a fresh process (Ray started before the clock). The last line is
``ratio_vs_plain_xgboost=<x>`` (median time of ours with 2 workers / median baseline time; target <= 1.3).

    python bench/train_models.py --workdir /tmp/bench/ts10k --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import xgboost as xgb

from propensity.config import Workspace
from propensity.features.catalog import FEATURE_SERVICE
from training.booster import BoosterParams, positive_weight, predict_proba
from training.evaluate import evaluate
from training.fitting import SPLITS, fit_category, quantile_options, skip_reason
from training.labels import LABEL_PREFIX, LabelConfig, build_labels
from training.splits import split_cutoffs
from training.trainer import TrainConfig, fit_categories, load_splits
from training.training_set import build_training_set, write_training_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="a workspace built by bench/training_set.py")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["baseline", "ours", "data-parallel"], help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    ws = Workspace.resolve(args.workdir).activate()
    if args.child:
        print(json.dumps(_child(ws, args.child, args.workers)))
        return
    rows, columns, categories = _prepare(ws)
    print(f"training set: {rows:,} rows x {columns:,} columns, {categories} categories", flush=True)
    runs = {
        "baseline": [_run(ws, "baseline", 2) for _ in range(args.repeats)],
        "ours, 2 workers": [_run(ws, "ours", 2) for _ in range(args.repeats)],
        "ours, 1 worker": [_run(ws, "ours", 1) for _ in range(args.repeats)],
        "data-parallel": [_run(ws, "data-parallel", 2) for _ in range(args.repeats)],
    }
    base = statistics.median(r["seconds"] for r in runs["baseline"])
    for name, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        trained = results[0]["trained"]
        auc = results[0]["median_auc"]
        print(f"{name:16s} median {seconds:6.1f} s, {seconds / base:4.2f}x baseline, {trained} models "
              f"(+{(seconds - base) / trained:.2f} s per model), median test AUC {auc:.3f}")  # fmt: skip
    ours = statistics.median(r["seconds"] for r in runs["ours, 2 workers"])
    print(f"ratio_vs_plain_xgboost={ours / base:.2f}")


def _prepare(ws: Workspace) -> tuple[int, int, int]:
    """Labels and the training set, unless already there."""
    target = ws.training_sets_dir / FEATURE_SERVICE
    if not target.is_dir():
        build_labels(ws, LabelConfig())
        write_training_set(build_training_set(ws.feature_repo, ws.labels_dir, FEATURE_SERVICE, presorted=True), target)
    schema = pq.read_schema(next(target.glob("*.parquet")))
    labels = [n for n in schema.names if n.startswith(LABEL_PREFIX)]
    return pq.ParquetDataset(target).read(columns=["customer_id"]).num_rows, len(schema.names), len(labels)


def _run(ws: Workspace, kind: str, workers: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--workdir", str(ws.root), "--child", kind, "--workers", str(workers)]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{kind} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {kind} ({workers} worker(s)): {result['seconds']:.1f} s", flush=True)
    return result


def _child(ws: Workspace, kind: str, workers: int) -> dict[str, float]:
    definition = json.loads((ws.labels_dir / "_labels.json").read_text())
    split = split_cutoffs([date.fromisoformat(c) for c in definition["cutoffs"]], definition["horizon_days"])
    path = ws.training_sets_dir / FEATURE_SERVICE
    schema = pq.read_schema(next(path.glob("*.parquet")))
    categories = [n.removeprefix(LABEL_PREFIX) for n in schema.names if n.startswith(LABEL_PREFIX)]
    if kind in ("ours", "data-parallel"):
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        strategy = "per-category" if kind == "ours" else "data-parallel"
        started = time.perf_counter()
        run = fit_categories(ws, path, categories, split, TrainConfig(workers=workers, strategy=strategy))
        seconds = time.perf_counter() - started
        aucs = [o.card.metrics["roc_auc"] for o in run.outcomes if o.card]
        return {"seconds": seconds, "trained": len(aucs), "median_auc": float(np.median(aucs))}
    started = time.perf_counter()
    aucs = _plain(path, [n for n in schema.names if n not in ("customer_id", "event_timestamp")], categories, split)
    return {"seconds": time.perf_counter() - started, "trained": len(aucs), "median_auc": float(np.median(aucs))}


def _plain(path: Path, columns: list[str], categories: list[str], split) -> list[float]:
    """Every category, one after another, with plain XGBoost on both cores."""
    features = [c for c in columns if not c.startswith(LABEL_PREFIX)]
    data, _ = load_splits(str(path), features, [LABEL_PREFIX + c for c in categories], split)
    params = BoosterParams()
    kinds = quantile_options(data.layout, params, threads=2)  # XGBoost's in-memory bins, as users use it
    train = xgb.QuantileDMatrix(data.matrices["train"], **kinds)
    validation = xgb.QuantileDMatrix(data.matrices["validation"], ref=train, **kinds)
    aucs = []
    for category in categories:
        labels = {name: data.labels[name][LABEL_PREFIX + category] for name in SPLITS}
        positives = {name: int(y.sum()) for name, y in labels.items()}
        rows = {name: len(y) for name, y in labels.items()}
        if skip_reason(positives, rows, TrainConfig().min_positives):
            continue
        weight = positive_weight(positives["train"], rows["train"], params.max_positive_weight)
        booster = fit_category(train, validation, labels, weight, params, threads=2)
        scores = predict_proba(booster, data.matrices["test"], weight)
        aucs.append(evaluate(labels["test"], scores, booster, data.layout.columns).metrics["roc_auc"])
    return aucs


if __name__ == "__main__":
    main()
