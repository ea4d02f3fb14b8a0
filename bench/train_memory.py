"""Training memory at scale: each trainer's peak private memory against the float32 matrix it learns from.

Workload: a workspace whose features are built (``--workdir``, e.g. the 100,000-customer workspace of
bench/features.py or bench/scale.py), monthly labels with cutoffs from ``--first`` to ``--last``, and the training
set joined from them once (`features apply` first when the workspace has no registry). Then, for each of
``--strategies``, `propensity train --categories ... --strategy S --force` in a process of its own.

For every step: wall time, the peak memory of its process tree (PSS, Ray's workers included), and the peak private
memory (USS) of its largest process, and of the largest processes by title (Ray's titles name the task or actor).
For training, the largest trainer (a ``CategoryTrainer`` or Ray Train worker) is reported against the float32
matrix a trainer learns from (label rows x matrix columns x 4 bytes for per-category training, which gives each
trainer every row; that over the workers for data-parallel training, which gives each its share).

    python bench/train_memory.py --workdir /tmp/bench100k --first 2024-05-01 --last 2025-11-01

The last line is ``training_worker_memory_ratio=<largest trainer's private memory / its float32 matrix>``. A
process's title is read when it is sampled, so a Ray worker that ran a trainer and another task is counted under
each title it had.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from _measure import Measurement, measure  # bench/ is on sys.path when run as a script

from propensity.config import WORKDIR_ENV, Workspace
from training.labels import LABEL_FILE
from training.registry import ModelRegistry

GIB = 2**30
TRAINER_TITLES = re.compile(r"CategoryTrainer|RayTrainWorker")  # Ray's titles of the training actors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="a workspace with raw data and built features")
    parser.add_argument("--first", required=True, help="first label cutoff (YYYY-MM-DD)")
    parser.add_argument("--last", required=True, help="last label cutoff (YYYY-MM-DD)")
    parser.add_argument("--categories", default="photo_books,greeting_cards")
    parser.add_argument("--strategies", default="data-parallel", help="comma-separated: per-category, data-parallel")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    ws = Workspace.resolve(args.workdir)
    steps = {
        "labels": ["labels", "--first", args.first, "--last", args.last],
        "training set": ["training-set", "--overwrite"],
    }
    if not any(ws.feast_dir.glob("registry*")):
        steps = {"apply": ["features", "apply"], **steps}
    for name, command in steps.items():
        _report(name, _run(ws, command))
    rows = pq.read_metadata(ws.labels_dir / LABEL_FILE).num_rows
    worst = 0.0
    for strategy in args.strategies.split(","):
        train = ["train", "--categories", args.categories, "--strategy", strategy, "--force"]
        measurement = _run(ws, [*train, "--workers", str(args.workers)])
        card = ModelRegistry(ws.models_dir).load(args.categories.split(",")[0]).card
        columns = len(card.layout.columns)
        share = rows if strategy == "per-category" else rows / args.workers
        matrix = share * columns * 4
        peaks = measurement.peak_private_by_title
        trainer = max((private for title, private in peaks.items() if TRAINER_TITLES.search(title)), default=0)
        ratio = trainer / matrix
        worst = max(worst, ratio)
        _report(f"train {strategy}", measurement)
        print(
            f"  {rows:,} label rows x {columns:,} columns; a trainer's float32 matrix {matrix / GIB:.2f} GiB; "
            f"the largest trainer's peak private memory {trainer / GIB:.2f} GiB, {ratio:.2f}x that",
            flush=True,
        )
        for title, private in sorted(measurement.peak_private_by_title.items(), key=lambda item: -item[1])[:4]:
            print(f"    {title:60s} {private / GIB:6.2f} GiB private at its peak", flush=True)
    print(f"training_worker_memory_ratio={worst:.2f}")


def _run(ws: Workspace, command: list[str]) -> Measurement:
    """One `propensity` command on ``ws`` in a process of its own; stops the benchmark if it fails."""
    env = {**os.environ, WORKDIR_ENV: str(ws.root)}
    argv = [sys.executable, "-m", "propensity", *command]
    return measure(lambda: subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL))


def _report(name: str, m: Measurement) -> None:
    print(
        f"{name:24s} {m.seconds:8.1f} s  tree peak {m.peak_memory / GIB:6.2f} GiB  "
        f"largest process {m.peak_process_private / GIB:6.2f} GiB private",
        flush=True,
    )


if __name__ == "__main__":
    main()
