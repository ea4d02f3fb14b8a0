"""Benchmark `propensity datagen`: time and peak memory, parallel against a single process.

Baseline: the same generator with one worker process (``workers=1``), measured in the same run on the same
configuration; output is identical for both (it depends only on the seed and the chunk size).

    python bench/datagen.py --customers 100000 --repeats 3
    python bench/datagen.py --customers 1000000 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from _measure import Measurement, measure, median_of  # bench/ is on sys.path when run as a script

from propensity.datagen.output import read_manifest
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic


def run_once(config: SyntheticConfig, workers: int, scratch: Path) -> tuple[Measurement, dict[str, int]]:
    target = scratch / f"raw-{workers}"
    measured = measure(lambda: generate_synthetic(config, target, workers=workers, overwrite=True))
    rows = read_manifest(target)["rows"]
    shutil.rmtree(target)
    return measured, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    config = SyntheticConfig(customers=args.customers)
    with tempfile.TemporaryDirectory(prefix="bench-datagen-") as tmp:
        scratch = Path(tmp)
        results: dict[int, list[Measurement]] = {1: [], args.workers: []}
        rows: dict[str, int] = {}
        for _ in range(args.repeats):
            for workers in results:
                measured, rows = run_once(config, workers, scratch)
                results[workers].append(measured)
                print(f"workers={workers}: {measured.seconds:.1f} s, peak {measured.peak_memory / 2**30:.2f} GiB")
    base, par = median_of(results[1]), median_of(results[args.workers])
    total_rows = sum(rows.values())
    print(f"customers={args.customers:,} rows={total_rows:,} ({', '.join(f'{k}={v:,}' for k, v in rows.items())})")
    print(f"repeats={args.repeats} (medians)")
    print(f"single process : {base.seconds:8.1f} s  peak {base.peak_memory / 2**30:6.2f} GiB")
    print(f"{args.workers} workers      : {par.seconds:8.1f} s  peak {par.peak_memory / 2**30:6.2f} GiB")
    print(f"rows/s         : {total_rows / par.seconds:,.0f} ({args.workers} workers)")
    print(f"speedup_vs_single_process={base.seconds / par.seconds:.2f}")
    print(f"peak_memory_ratio_vs_single_process={par.peak_memory / base.peak_memory:.2f}")


if __name__ == "__main__":
    main()
