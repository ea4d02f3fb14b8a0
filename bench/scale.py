"""The daily cycle at a million customers, step by step, through the `propensity` commands a user runs.

Workload: ``--customers`` synthetic customers (default 1,000,000) over two years (2024-01-01 .. 2025-12-31).

Setup (measured, not part of the day):
1. `datagen` of the raw tables;
2. the first build of a recent window: `features build --since` the ``--window-months`` months before the day
   after the data (enough history for the online views, the label cutoffs and a day's scoring; every feature
   still looks back its full year);
3. `features apply` and `features materialize` (every online view);
4. `labels` at monthly cutoffs in the window, a sample of ``--train-customers`` customers' rows (default
   100,000) joined by `training-set --labels`, and `train` (every category);

The production day, of every customer and every category:
5. `features build --as-of D` (D the day after the data: the newest snapshot, built again);
6. `features materialize --incremental`;
7. `score --as-of D`: every eligible customer scored by every model, scores pushed offline and online.

Each step runs in a process of its own; its wall time and the peak memory of its process tree (PSS, Ray's
workers included) are measured, with the rate per core (customers per second per CPU).

    python bench/scale.py --workdir /tmp/scale1m --customers 1000000

``--steps`` runs some steps only, on a workspace the earlier ones made (a long run can be resumed). The last
line is ``million_customer_day_seconds=<seconds of steps 5 to 7>``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from _measure import Measurement, measure  # bench/ is on sys.path when run as a script

from propensity.config import WORKDIR_ENV, Workspace

START, END = date(2024, 1, 1), date(2025, 12, 31)
DAY = date(2026, 1, 1)  # the day after the data: the production day's snapshot
SAMPLE_FILE = "train-sample.parquet"
DAY_STEPS = ("as-of build", "materialize incremental", "score")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--train-customers", type=int, default=100_000)
    parser.add_argument("--window-months", type=int, default=4, help="3 monthly label cutoffs: train, validation, test")
    parser.add_argument("--steps", default="all", help="comma-separated step names, or all")
    args = parser.parse_args()
    first_month = _months_before(DAY, args.window_months)
    # monthly cutoffs from the window's second month (its first has a snapshot before every cutoff) to the last
    # whose 30-day label horizon ends in the data
    cutoffs = (_months_before(DAY, args.window_months - 1).isoformat(), _months_before(DAY, 1).isoformat())
    sample = args.workdir / SAMPLE_FILE
    steps = {
        "datagen": ["datagen", "--customers", str(args.customers), "--start", str(START), "--end", str(END)],
        "window build": ["features", "build", "--since", first_month.isoformat()],
        "apply": ["features", "apply"],
        "materialize": ["features", "materialize"],
        "labels": ["labels", "--first", cutoffs[0], "--last", cutoffs[1]],
        "training set": ["training-set", "--labels", str(sample), "--overwrite"],
        "train": ["train"],
        "as-of build": ["features", "build", "--as-of", DAY.isoformat()],
        "materialize incremental": ["features", "materialize", "--incremental"],
        "score": ["score", "--as-of", DAY.isoformat()],
    }
    chosen = list(steps) if args.steps == "all" else [s.strip() for s in args.steps.split(",")]
    unknown = set(chosen) - set(steps)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; the steps are {list(steps)}")
    cores = os.cpu_count() or 1
    results: dict[str, Measurement] = {}
    for name in chosen:
        if name == "training set":
            _sample_labels(args.workdir, args.train_customers, sample)
        results[name] = _run(args.workdir, steps[name])
        m = results[name]
        print(
            f"{name:24s} {m.seconds:9.1f} s  peak {m.peak_memory / 2**30:6.2f} GiB  "
            f"{args.customers / m.seconds / cores:10,.0f} customers/s/core",
            flush=True,
        )
    day = [results[s].seconds for s in DAY_STEPS if s in results]
    if len(day) == len(DAY_STEPS):
        print(f"million_customer_day_seconds={sum(day):.0f}")


def _run(workdir: Path, command: list[str]) -> Measurement:
    """One `propensity` command on ``workdir`` in a process of its own; stops the benchmark if it fails."""
    env = {**os.environ, WORKDIR_ENV: str(workdir)}
    argv = [sys.executable, "-m", "propensity", *command]
    return measure(lambda: subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL))


def _sample_labels(workdir: Path, customers: int, target: Path) -> None:
    """The label rows of the ``customers`` lowest customer ids (a sample the generator draws at random)."""
    from training.labels import LABEL_FILE

    labels = pq.read_table(Workspace.resolve(workdir).labels_dir / LABEL_FILE)
    ids = pc.unique(labels.column("customer_id")).sort()[:customers]
    pq.write_table(labels.filter(pc.is_in(labels.column("customer_id"), ids)), target)


def _months_before(day: date, months: int) -> date:
    """The first day of the month ``months`` before ``day``'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    main()
