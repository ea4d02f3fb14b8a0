"""Benchmark the CLI's start-up: commands that should answer at once, each run as a fresh process.

Each command runs ``--repeats`` times; the median wall time and the median CPU time (user + system of the
process and its children, less sensitive to other jobs on the machine) are printed. ``sql`` runs on a workspace
holding one tiny raw table (made here).

    python bench/cli_startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

EXECUTABLE = str(Path(sys.executable).with_name("propensity"))


def commands(workdir: Path) -> dict[str, list[str]]:
    """The measured command lines, by label."""
    return {
        "--help": ["--help"],
        "--version": ["--version"],
        "argument error": ["train", "--workers", "many"],
        "labels --help": ["labels", "--help"],
        'sql "SELECT 1"': ["sql", "SELECT 1", "--workdir", str(workdir)],
    }


def timed(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (children's user + system) and exit status of one run."""
    before = os.times()
    start = time.perf_counter()
    result = subprocess.run([EXECUTABLE, *args], capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "raw" / "customers").mkdir(parents=True)
        pq.write_table(pa.table({"customer_id": [1, 2]}), workdir / "raw" / "customers" / "part-0.parquet")
        print("| command | median wall s | median CPU s | exit |")
        print("|---|---:|---:|---:|")
        for label, args in commands(workdir).items():
            runs = [timed(args) for _ in range(options.repeats)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            print(f"| `{label}` | {wall:.2f} | {cpu:.2f} | {runs[-1][2]} |", flush=True)


if __name__ == "__main__":
    main()
