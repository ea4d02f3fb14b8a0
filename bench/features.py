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
        gib, commit = 2**30, args.baseline_commit[:7]
        baseline = _baseline_build(args.baseline_commit, root / "baseline", root / "checkout")
        print(
            f"baseline build  : {baseline.seconds:8.1f} s  peak {baseline.peak_memory / gib:.2f} GiB ({commit})",
            flush=True,
        )
        full = _build(REPO, root / "new")  # each figure printed once taken: a later failure loses none
        print(f"full build      : {full.seconds:8.1f} s  peak {full.peak_memory / gib:.2f} GiB (process tree, Ray's "
              "workers included)", flush=True)  # fmt: skip
        differences = _compare(root / "baseline" / "offline", root / "new" / "offline")
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
    print(
        f"customers={args.customers:,} views={views} rows={rows:,} feature_values={values:,} "
        f"offline_size={size / 2**20:.0f} MiB  {values / full.seconds:,.0f} values/s in the full build"
    )
    print("rows against the baseline (only baseline / of which empty / only today / other values / beyond 1e-5):")
    for view, counts in differences.items():
        print(f"  {view:28s}" + "".join(f" {n:9,}" for n in counts))
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


def _compare(baseline: Path, new: Path) -> dict[str, tuple[int, int, int, int, int]]:
    """Per view, the rows (keyed by customer and snapshot, the build time aside) that only the baseline has, and of
    those the empty ones (every feature 0 or null), that only today's build has, that both have with other values,
    and of those with a value off by more than
    ``TOLERANCE`` (relative; vectors' unit-length elements absolute), whatever the files they are in."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    out = {}
    for view in sorted({p.parent.name for p in [*baseline.glob("*/????-??"), *new.glob("*/????-??")]}):
        old, now = (f"read_parquet('{root / view}/*/*.parquet')" for root in (baseline, new))
        columns = [c for c in con.sql(f"SELECT * FROM {now} LIMIT 0").columns if c not in _KEYS]
        distinct = " OR ".join(f'b."{c}" IS DISTINCT FROM n."{c}"' for c in columns)
        far = " OR ".join(_far(con, now, c) for c in columns)
        empty = " AND ".join(f"coalesce(b.\"{c}\"::VARCHAR IN ('0', '0.0'), b.\"{c}\" IS NULL)" for c in columns)
        out[view] = con.execute(
            f"""SELECT count(*) FILTER (n.customer_id IS NULL), count(*) FILTER (n.customer_id IS NULL AND {empty}),
                       count(*) FILTER (b.customer_id IS NULL),
                       count(*) FILTER (b.customer_id = n.customer_id AND ({distinct})),
                       count(*) FILTER (b.customer_id = n.customer_id AND ({far}))
                FROM {old} b FULL JOIN {now} n
                  ON b.customer_id = n.customer_id AND b.event_timestamp = n.event_timestamp"""
        ).fetchall()[0]
    return out


TOLERANCE = 1e-5
_KEYS = ("customer_id", "event_timestamp", "created_at")


def _far(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> str:
    """SQL: ``column`` of baseline row ``b`` and new row ``n`` differ by more than ``TOLERANCE`` (or in nullness)."""
    kind = con.sql(f'SELECT typeof("{column}") FROM {relation} LIMIT 1').fetchall()
    b, n = f'b."{column}"', f'n."{column}"'
    if kind and kind[0][0].endswith("[]"):
        gap = f"list_max(list_transform(range(1, len({b}) + 1), lambda i: abs({b}[i] - {n}[i]))) > {TOLERANCE}"
    elif kind and kind[0][0] in ("FLOAT", "DOUBLE", "INTEGER", "BIGINT"):
        gap = f"abs({b} - {n}) > {TOLERANCE} * greatest(abs({b}), abs({n}), 1)"
    else:
        gap = f"{b} IS DISTINCT FROM {n}"
    return f"(({b} IS NULL) <> ({n} IS NULL) OR coalesce({gap}, false))"


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
