"""The scaling curve of the full feature build: time per customer and peak memory as customers and workers grow.

Workload: synthetic customers over one year (2025-01-01 .. 2025-12-31), weekly snapshots, the default
catalog; ``--customers`` sizes (default 10k, 30k, 100k), each built from scratch with ``--workers`` 1 and 2
(`propensity features build` in a process of its own, on the same raw data; the store's default bucket
count). Peak memory is the PSS of the build's process tree, Ray's workers included. Baseline: the smallest size
with the same workers.

    python bench/build_scaling.py --customers 10000,30000,100000

The last lines are ``time_per_customer_ratio=<largest / smallest, 2 workers>`` and
``peak_memory_ratio=<largest / smallest, 2 workers>``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import Measurement, measure  # bench/ is on sys.path when run as a script

from propensity.config import WORKDIR_ENV
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic

START, END = "2025-01-01", "2025-12-31"
WORKERS = (1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", default="10000,30000,100000", help="comma-separated sizes")
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.customers.split(","))
    runs: dict[tuple[int, int], Measurement] = {}
    print("customers  workers  seconds  ms/customer  peak GiB")
    for customers in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
            raw = Path(tmp) / "raw"
            generate_synthetic(SyntheticConfig(customers=customers, start=START, end=END), raw)
            for workers in WORKERS:
                workdir = Path(tmp) / f"ws-{workers}"
                shutil.copytree(raw, workdir / "raw")
                runs[customers, workers] = m = _build(workdir, workers)
                shutil.rmtree(workdir)
                print(
                    f"{customers:9,d}  {workers:7d}  {m.seconds:7.1f}  {m.seconds / customers * 1e3:11.2f}  "
                    f"{m.peak_memory / 2**30:8.2f}",
                    flush=True,
                )
    small, large = runs[sizes[0], WORKERS[-1]], runs[sizes[-1], WORKERS[-1]]
    print(f"time_per_customer_ratio={large.seconds / sizes[-1] / (small.seconds / sizes[0]):.2f}")
    print(f"peak_memory_ratio={large.peak_memory / small.peak_memory:.2f}")


def _build(workdir: Path, workers: int) -> Measurement:
    env = {**os.environ, WORKDIR_ENV: str(workdir)}
    command = [sys.executable, "-m", "propensity", "features", "build", "--workers", str(workers)]
    return measure(lambda: subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL))


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    main()
