"""Benchmark the feature pipeline at 100k customers: build time and peak memory, `feast apply` and
`feast materialize` times.

Baselines measured in the same run: a full build of the whole history (weekly snapshots over two years)
against the daily job's incremental build of one new date (`--as-of`), and Feast's materialize against a plain
DuckDB scan of the same online views (the floor for reading them).

    python bench/features.py --customers 100000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import duckdb
from _measure import measure  # bench/ is on sys.path when run as a script

from propensity.config import Workspace
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic
from propensity.features.catalog import ONLINE_PROFILE_VIEWS
from propensity.features.feast_cli import run_feast
from propensity.features.pipeline import build_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        ws = Workspace.resolve(Path(tmp)).activate()
        generate_synthetic(SyntheticConfig(customers=args.customers), ws.raw_dir)
        report = {}
        full = measure(lambda: report.update(r=build_features(ws)))
        build = report["r"]
        values = sum(rows * width for rows, width in zip(build.rows.values(), _widths(ws), strict=True))
        last = build.dates[-1]
        incremental = measure(lambda: build_features(ws, as_of=last))
        started = time.perf_counter()
        assert run_feast(ws, ["apply"]).returncode == 0
        apply_s = time.perf_counter() - started
        started = time.perf_counter()
        assert run_feast(ws, ["materialize", "2000-01-01T00:00:00", f"{last}T00:00:01"]).returncode == 0
        materialize_s = time.perf_counter() - started
        started = time.perf_counter()
        online_rows = _latest_rows(ws)
        scan_s = time.perf_counter() - started
        size = sum(f.stat().st_size for f in ws.offline_dir.rglob("*.parquet"))
    print(
        f"customers={args.customers:,} snapshots={len(build.dates)} views={len(build.rows)} "
        f"rows={sum(build.rows.values()):,} feature_values={values:,} offline_size={size / 2**20:.0f} MiB"
    )
    print(
        f"full build      : {full.seconds:8.1f} s  peak {full.peak_memory / 2**30:.2f} GiB (driver process tree)  "
        f"{values / full.seconds:,.0f} values/s"
    )
    print(f"incremental date: {incremental.seconds:8.1f} s  peak {incremental.peak_memory / 2**30:.2f} GiB")
    print(f"feast apply     : {apply_s:8.1f} s")
    print(
        f"feast materialize: {materialize_s:7.1f} s for {online_rows:,} entities x 3 online views "
        f"({online_rows / materialize_s:,.0f} entities/s); DuckDB scan of the same latest rows {scan_s:.1f} s"
    )
    print(f"full_build_vs_incremental={full.seconds / incremental.seconds:.1f}")
    print(f"materialize_vs_duckdb_scan={materialize_s / scan_s:.1f}")


def _widths(ws: Workspace) -> list[int]:
    from propensity.features.catalog import workspace_catalog

    return [len(v.features) for v in workspace_catalog(ws)]


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
