"""Benchmark point-in-time training sets: ours on Ray against Feast's stock DuckDB offline store.

Workload: synthetic customers over one year (2025), the full feature catalog (2,224 features in 13 views) built as
weekly snapshots (53 per customer), and entity rows = every customer at 11 monthly cutoffs (Feb 1 .. Dec 1),
ordered by cutoff and customer as `propensity labels` writes them. Each contender runs in a fresh process, with
Feast's store or Ray (and two warm workers) started before the clock: Feast's
``get_historical_features(...).to_df()`` against ours into a materialized Ray Dataset (both: the result in
memory), then ours also written to Parquet. Peak memory is sampled over the whole process tree (for ours: the
driver and every Ray process). The outputs are compared row by row. More runs of ours: with the sample
sort (by time and key, as for rows that do not come sorted), streaming (the lazy path of results too big for
the object store), with 1 worker, and with the entity rows repeated 2x and 4x at shifted times.

    python bench/training_set.py --customers 10000 --repeats 3

The last line is ``speedup_vs_feast=<x>`` (median Feast time / median time of ours, results in memory).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import ray
from _measure import Measurement, measure, median_of  # bench/ is on sys.path when run as a script

from propensity.config import Workspace
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic
from propensity.features.catalog import FEATURE_SERVICE
from propensity.features.feast_cli import run_feast
from propensity.features.pipeline import build_features

CUTOFFS = [datetime(2025, month, 1, tzinfo=UTC) for month in range(2, 13)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--feast-repeats", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep the generated workspace here (reused when present)")
    parser.add_argument("--child", choices=["feast", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--entities", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sort", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--streaming", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.entities, args.out, args.workers, not args.sort, args.streaming)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-training-set-") as tmp:
        _bench(args, Path(tmp), args.workdir or Path(tmp) / "workspace")


def _bench(args: argparse.Namespace, tmp: Path, workdir: Path) -> None:
    ws = Workspace.resolve(workdir).activate()
    started = time.perf_counter()
    features = _prepare(ws, args.customers)
    print(f"workspace ready in {time.perf_counter() - started:.0f} s: {ws.root}", flush=True)
    entities = {k: _entities(ws, tmp / f"entities-x{k}.parquet", k) for k in (1, 2, 4)}
    rows = pq.read_metadata(entities[1]).num_rows

    feast = [_run("feast", entities[1], tmp / "feast.parquet") for _ in range(args.feast_repeats)]
    ours = [_run("ours", entities[1], tmp / "ours") for _ in range(args.repeats)]
    equal = _same_rows(tmp / "feast.parquet", tmp / "ours")
    sorted_ = [_run("ours", entities[1], tmp / "ours-sorted", sort=True) for _ in range(args.repeats)]
    streamed = [_run("ours", entities[1], tmp / "ours-streaming", streaming=True) for _ in range(args.repeats)]
    one_worker = [_run("ours", entities[1], tmp / "ours-w1", workers=1) for _ in range(args.repeats)]
    scaling = {k: [_run("ours", entities[k], tmp / f"ours-x{k}") for _ in range(args.repeats)] for k in (2, 4)}

    values = rows * features
    print(
        f"customers={args.customers:,} snapshots/customer=53 views=13 features={features:,} "
        f"entity_rows={rows:,} feature_values={values:,} outputs_equal={equal}"
    )
    print(f"{'(medians)':34s} {'wall s':>7s} {'+write s':>8s} {'peak GiB':>9s} {'values/s':>12s}")
    for name, runs, n in [
        (f"feast get_historical_features x{len(feast)}", feast, values),
        (f"ours, 2 workers x{len(ours)}", ours, values),
        ("ours, 2 workers, sample sort first", sorted_, values),
        ("ours, 2 workers, streaming", streamed, values),
        ("ours, 1 worker", one_worker, values),
        ("ours, 2x entity rows", scaling[2], 2 * values),
        ("ours, 4x entity rows", scaling[4], 4 * values),
    ]:
        m, write = median_of([r.measurement for r in runs]), statistics.median(r.with_write for r in runs)
        print(f"{name:34s} {m.seconds:7.1f} {write:8.1f} {m.peak_memory / 2**30:9.2f} {n / m.seconds:12,.0f}")
    f, o = median_of([r.measurement for r in feast]), median_of([r.measurement for r in ours])
    print(f"runs (s): feast {[round(r.measurement.seconds, 1) for r in feast]}, "
          f"ours {[round(r.measurement.seconds, 1) for r in ours]}")  # fmt: skip
    print(f"memory_ratio_vs_feast={o.peak_memory / f.peak_memory:.2f}")
    with_write = statistics.median(r.with_write for r in ours)
    print(f"speedup_vs_feast_including_parquet_write={f.seconds / with_write:.1f}")
    if not equal:
        sys.exit("outputs differ")
    print(f"speedup_vs_feast={f.seconds / o.seconds:.1f}")


@dataclass(frozen=True)
class Run:
    """A contender's join (result in memory: Feast's DataFrame, our materialized Ray Dataset) and, for ours,
    the time including the write of the training set to Parquet."""

    measurement: Measurement
    with_write: float


def _prepare(ws: Workspace, customers: int) -> int:
    """Generate, build and apply the workspace unless it is already there; return the feature count."""
    if not (ws.feast_dir / "registry.db").is_file():
        config = SyntheticConfig(customers=customers, start=date(2025, 1, 1), end=date(2025, 12, 31), seed=0)
        generate_synthetic(config, ws.raw_dir)
        build_features(ws)
        assert run_feast(ws, ["apply"]).returncode == 0
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(ws.feature_repo))
    return sum(len(p.features) for p in store.get_feature_service(FEATURE_SERVICE).feature_view_projections)


def _entities(ws: Workspace, path: Path, copies: int) -> Path:
    """Every customer at every cutoff, ``copies`` times at cutoffs shifted by 3 days per copy."""
    ids = pq.read_table(ws.raw_dir / "customers", columns=["customer_id"]).column("customer_id")
    stamps = [c + timedelta(days=3 * k) for k in range(copies) for c in CUTOFFS]
    table = pa.table({
        "customer_id": pa.concat_arrays([ids.combine_chunks()] * len(stamps)),
        "event_timestamp": pa.array([s for s in stamps for _ in range(len(ids))], pa.timestamp("us", "UTC")),
    })  # fmt: skip
    pq.write_table(table, path)
    return path


def _run(
    kind: str, entities: Path, out: Path, workers: int | None = None, sort: bool = False, streaming: bool = False
) -> Run:
    """One contender in a fresh process: its own join time, and the peak memory of its process tree."""
    command = [sys.executable, __file__, "--child", kind, "--entities", str(entities), "--out", str(out)]
    command += (["--workers", str(workers)] if workers else []) + (["--sort"] if sort else [])
    command += ["--streaming"] if streaming else []
    result: dict[str, subprocess.CompletedProcess] = {}
    m = measure(lambda: result.update(p=subprocess.run(command, capture_output=True, text=True, env=os.environ)))
    proc = result["p"]
    if proc.returncode != 0:
        sys.exit(f"{kind} failed:\n{proc.stderr[-3000:]}")
    times = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = pq.read_metadata(entities).num_rows
    print(f"  {kind:5s} x{rows:,} rows: {times['seconds']:.1f} s ({times['with_write']:.1f} s with the Parquet "
          f"write), peak {m.peak_memory / 2**30:.2f} GiB", flush=True)  # fmt: skip
    return Run(Measurement(times["seconds"], m.peak_memory), times["with_write"])


@ray.remote(num_cpus=1)
def _warm_up() -> None:
    import training.pit  # noqa: F401


def _child(
    kind: str, entities: Path, out: Path, workers: int | None, presorted: bool, streaming: bool
) -> dict[str, float]:
    if kind == "feast":
        from feast import FeatureStore

        store = FeatureStore(repo_path=str(Workspace.resolve().feature_repo))
        frame = pq.read_table(entities).to_pandas()
        started = time.perf_counter()
        job = store.get_historical_features(frame, store.get_feature_service(FEATURE_SERVICE))
        table = job.to_arrow()
        table.to_pandas()  # what to_df() does: to_arrow().to_pandas(); the Arrow table is kept for the check
        seconds = time.perf_counter() - started
        pq.write_table(table, out)
        return {"seconds": seconds, "with_write": seconds}
    import ray

    from training.training_set import build_training_set, write_training_set

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.get([_warm_up.remote() for _ in range(2)])  # start both workers and import the join code, as on a live cluster
    started = time.perf_counter()
    repo = Workspace.resolve().feature_repo
    streaming_or_auto = True if streaming else None
    dataset = build_training_set(
        repo, entities, FEATURE_SERVICE, workers=workers, presorted=presorted, streaming=streaming_or_auto
    ).materialize()
    joined = time.perf_counter() - started
    write_training_set(dataset, out, overwrite=True)
    return {"seconds": joined, "with_write": time.perf_counter() - started}


def _same_rows(expected: Path, got: Path) -> bool:
    """Both outputs hold the same rows: compared one entity timestamp at a time, ordered by customer."""
    con = duckdb.connect()
    select = ", ".join(f'"{n}"' for n in pq.read_schema(expected).names)
    sources = {"expected": str(expected), "got": str(got / "*.parquet")}
    stamps = con.sql(f"SELECT DISTINCT event_timestamp FROM read_parquet('{expected}')").fetchall()
    for (stamp,) in stamps:
        left, right = (
            con.sql(
                f"SELECT {select} FROM read_parquet($path) WHERE event_timestamp = $stamp ORDER BY customer_id",
                params={"path": path, "stamp": stamp},
            ).to_arrow_table()
            for path in sources.values()
        )
        if not left.equals(right):
            return False
    count = "SELECT count(*) FROM read_parquet($path)"
    left, right = (con.sql(count, params={"path": path}).fetchall()[0][0] for path in sources.values())
    return left == right


if __name__ == "__main__":
    main()
