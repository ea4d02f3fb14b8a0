"""Benchmark the feature pipeline at 100k customers: build time and peak memory, `feast apply` and
`feast materialize` times.

Baselines measured in the same run, on the same raw data:
- the full build of the last release that ran it in one DuckDB on the driver (``--baseline-commit``, checked out
  in a git worktree and run as `propensity features build`), against today's build on Ray tasks run the same way;
  both write weekly snapshots over the whole history, and their files are compared;
- the daily job's incremental build of one new date (`--as-of`) against the full build;
- Feast's materialize against a plain DuckDB scan of the same online views (the floor for reading them).

    python bench/features.py --customers 100000

The last lines are ``build_time_ratio=<today / baseline>`` and ``build_memory_gib=<today's peak>``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from _measure import Measurement, measure  # bench/ is on sys.path when run as a script

from propensity.config import WORKDIR_ENV, Workspace
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic
from propensity.features.catalog import ONLINE_PROFILE_VIEWS, workspace_catalog
from propensity.features.feast_cli import run_feast
from propensity.features.pipeline import build_features

BASELINE_COMMIT = "26e358a0dce36b19e7c6ccf9d49a7f6914b1b34e"  # the last build in one DuckDB on the driver
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--baseline-commit", default=BASELINE_COMMIT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        root = Path(tmp)
        generate_synthetic(SyntheticConfig(customers=args.customers), root / "new" / "raw")
        shutil.copytree(root / "new" / "raw", root / "baseline" / "raw")
        baseline = _baseline_build(args.baseline_commit, root / "baseline", root / "checkout")
        full = _build(REPO, root / "new")
        same, differing = _compare(root / "baseline" / "offline", root / "new" / "offline")
        ws = Workspace.resolve(root / "new").activate()
        last = _last_snapshot(ws)
        incremental = measure(lambda: build_features(ws, as_of=last))
        apply_s, materialize_s = _feast(ws, last)
        started = time.perf_counter()
        online_rows = _latest_rows(ws)
        scan_s = time.perf_counter() - started
        rows, values = _rows_and_values(ws)
        size = sum(f.stat().st_size for f in ws.offline_dir.rglob("*.parquet"))
        views = len(workspace_catalog(ws))
    gib = 2**30
    print(
        f"customers={args.customers:,} views={views} rows={rows:,} "
        f"feature_values={values:,} offline_size={size / 2**20:.0f} MiB"
    )
    commit = args.baseline_commit[:7]
    print(f"baseline build  : {baseline.seconds:8.1f} s  peak {baseline.peak_memory / gib:.2f} GiB ({commit})")
    print(
        f"full build      : {full.seconds:8.1f} s  peak {full.peak_memory / gib:.2f} GiB (process tree, Ray's "
        f"workers included)  {values / full.seconds:,.0f} values/s"
    )
    print(f"same rows       : {same} months of views; differing in: {', '.join(differing) or 'none'}")
    print(f"incremental date: {incremental.seconds:8.1f} s  peak {incremental.peak_memory / gib:.2f} GiB")
    print(f"feast apply     : {apply_s:8.1f} s")
    print(
        f"feast materialize: {materialize_s:7.1f} s for {online_rows:,} entities x 3 online views "
        f"({online_rows / materialize_s:,.0f} entities/s); DuckDB scan of the same latest rows {scan_s:.1f} s"
    )
    print(f"full_build_vs_incremental={full.seconds / incremental.seconds:.1f}")
    print(f"materialize_vs_duckdb_scan={materialize_s / scan_s:.1f}")
    print(f"build_time_ratio={full.seconds / baseline.seconds:.2f}")
    print(f"build_memory_gib={full.peak_memory / gib:.2f}")


def _build(code: Path, workdir: Path) -> Measurement:
    """`propensity features build` of ``workdir`` with the package at ``code``, timed and its memory sampled."""
    env = {**os.environ, WORKDIR_ENV: str(workdir), "PYTHONPATH": str(code)}
    command = [sys.executable, "-m", "propensity", "features", "build"]
    return measure(lambda: subprocess.run(command, env=env, cwd=code, check=True, stdout=subprocess.DEVNULL))


def _baseline_build(commit: str, workdir: Path, checkout: Path) -> Measurement:
    """The build of ``commit``, from a git worktree of it (removed afterwards)."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(checkout), commit], check=True)
    try:
        return _build(checkout, workdir)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(checkout)], check=True)


def _compare(baseline: Path, new: Path) -> tuple[int, list[str]]:
    """How many months of views hold the same rows (the build time aside; whatever their files, as the bucket
    counts may differ) in both stores, and the views of those that do not."""
    months = {p.relative_to(baseline) for p in baseline.glob("*/????-??")}
    months |= {p.relative_to(new) for p in new.glob("*/????-??")}
    same, differing = 0, set()
    for month in sorted(months):
        if _rows(baseline / month).equals(_rows(new / month)):
            same += 1
        else:
            differing.add(month.parts[0])
    return same, sorted(differing)


def _rows(month: Path) -> pa.Table:
    """The rows of a view's month, sorted, without their build time (none if the month is missing)."""
    files = sorted(month.glob("*.parquet"))
    if not files:
        return pa.table({})
    table = pa.concat_tables(pq.read_table(f) for f in files)
    return table.drop(["created_at"]).sort_by([("event_timestamp", "ascending"), ("customer_id", "ascending")])


def _last_snapshot(ws: Workspace) -> date:
    files = ws.offline_dir / "customer_profile" / "*" / "*.parquet"
    return duckdb.sql(f"SELECT max(event_timestamp)::DATE FROM read_parquet('{files}')").fetchall()[0][0]


def _feast(ws: Workspace, last: date) -> tuple[float, float]:
    """Seconds of `feast apply` and of `feast materialize` of the whole history."""
    started = time.perf_counter()
    assert run_feast(ws, ["apply"]).returncode == 0
    apply_s = time.perf_counter() - started
    started = time.perf_counter()
    assert run_feast(ws, ["materialize", "2000-01-01T00:00:00", f"{last}T00:00:01"]).returncode == 0
    return apply_s, time.perf_counter() - started


def _rows_and_values(ws: Workspace) -> tuple[int, int]:
    """Rows of the views' data files, and feature values (rows x features)."""
    rows = values = 0
    for view in workspace_catalog(ws):
        n = sum(pq.ParquetFile(f).metadata.num_rows for f in (ws.offline_dir / view.name).glob("*/*.parquet"))
        rows += n
        values += n * len(view.features)
    return rows, values


def _latest_rows(ws: Workspace) -> int:
    """Read the latest row per customer of the online views with DuckDB: what materialize has to read."""
    con = duckdb.connect()
    total = 0
    for view in ONLINE_PROFILE_VIEWS:
        path = str(ws.offline_dir / view / "*" / "*.parquet")
        total = max(total, con.execute(
            f"SELECT count(*) FROM (SELECT * FROM read_parquet('{path}') "
            "QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY event_timestamp DESC) = 1)"
        ).fetchone()[0])  # fmt: skip
    return total


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    main()
