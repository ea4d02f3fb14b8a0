"""Benchmark batch scoring: ours on Ray Data against plain in-process ``inplace_predict``, and the write-back of
the scores against Feast's stock push.

Workload: a workspace with production models (the training benchmark's: 10,000 synthetic customers over 2025,
2,224 features of which one 384-d embedding, so 2,607 matrix columns, and 28 category models). The eligible
customers' feature rows as of the day after the data are joined once through our point-in-time path, then
replicated under new customer ids to ``--customers`` rows (default 1,000,000) as Parquet files of 10,000 rows.
Each contender runs in a fresh process (Ray started before the clock):

- **baseline, predict only**: one process reads the rows file by file into a float32 NumPy matrix and calls every
  model's ``inplace_predict`` on both cores; only the predict calls are timed: the practical limit;
- **baseline, Parquet to scores**: the same process's whole loop (read, matrix, predict);
- **ours**: ``inference.scorer.score_dataset`` (the scorer of ``propensity score``: Ray Data reads the Parquet,
  an actor pool builds each block's matrix, scores every model, counts the drift bins) written as Parquet;
- **write-back**: the scores of ``--writeback-rows`` customers pushed to the SQLite online store by ours
  (``ScoreStore.push_online``: Feast's push in 50,000-row calls) and by one stock
  ``FeatureStore.push(..., to=PushMode.ONLINE)`` of the same rows.

    python bench/scoring.py --workdir /tmp/bench/ts10k --customers 1000000 --repeats 3 --writeback-rows 200000

The last line is ``scores_per_second_per_core_ratio=<x>`` (ours / baseline predict only, medians).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from propensity.config import Workspace
from propensity.datagen.raw_views import connect_raw, data_range
from propensity.storage import sql_path

ROWS_PER_FILE = 10_000
ID_STRIDE = 10**8  # replica k of customer c is customer k * ID_STRIDE + c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="a workspace with production models")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--writeback-rows", type=int, default=None, help="rows pushed online (default: all)")
    parser.add_argument("--child", choices=["baseline", "ours", "push-ours", "push-stock"], help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    ws = Workspace.resolve(args.workdir).activate()
    bench = ws.root / ".bench-scoring"
    if args.child:
        print(json.dumps(_child(ws, bench / f"rows-{args.customers}", args.child, args.rows)))
        return
    customers, columns, models = _prepare(ws, bench, args.customers)
    cores = 2
    print(f"{customers:,} customers x {models} models, {columns:,} matrix columns, {cores} cores", flush=True)
    base = [_run(ws, "baseline", args.customers) for _ in range(args.repeats)]
    ours = [_run(ws, "ours", args.customers) for _ in range(args.repeats)]
    scores = models * customers
    predict = statistics.median(r["predict_seconds"] for r in base)
    whole = statistics.median(r["seconds"] for r in base)
    mine = statistics.median(r["seconds"] for r in ours)
    print(f"{'(medians)':34s} {'s':>8s} {'scores/s/core':>14s}")
    for name, seconds in [("baseline, predict only", predict), ("baseline, Parquet to scores", whole),
                          ("ours, Ray Data actors", mine)]:  # fmt: skip
        print(f"{name:34s} {seconds:8.1f} {scores / seconds / cores:14,.0f}")
    rows = min(args.writeback_rows or customers, customers)
    push_ours = _run(ws, "push-ours", args.customers, rows)["seconds"]
    push_stock = _run(ws, "push-stock", args.customers, rows)["seconds"]
    print(f"write-back of {rows:,} rows x {models} scores to SQLite: ours {push_ours:.1f} s "
          f"({rows / push_ours:,.0f} rows/s), stock push {push_stock:.1f} s ({rows / push_stock:,.0f} rows/s), "
          f"ratio {push_ours / push_stock:.2f}")  # fmt: skip
    runs = {"baseline predict": [r["predict_seconds"] for r in base], "baseline whole": [r["seconds"] for r in base],
            "ours": [r["seconds"] for r in ours]}  # fmt: skip
    print("runs (s): " + ", ".join(f"{name} {[round(s, 1) for s in times]}" for name, times in runs.items()))
    print(f"scores_per_second_per_core_ratio={predict / mine:.2f}")


def _prepare(ws: Workspace, bench: Path, customers: int) -> tuple[int, int, int]:
    """The replicated feature rows (made once per size); returns customers, matrix columns and models."""
    rows_dir = bench / f"rows-{customers}"
    models = _models(ws)
    if not rows_dir.is_dir():
        import ray

        from training.labels import eligible_customers_query
        from training.training_set import build_training_set

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        bench.mkdir(exist_ok=True)
        entities = bench / "entities.parquet"
        con = connect_raw(ws)
        day = data_range(con)[1] + timedelta(days=1)
        stamp = datetime(day.year, day.month, day.day, tzinfo=UTC)
        con.execute(f"COPY ({eligible_customers_query()}) TO '{sql_path(entities)}' (FORMAT parquet)", [stamp, 365])
        joined = build_training_set(ws.feature_repo, entities, models[0].feature_service, presorted=True)
        table = pa.concat_tables(ray.get(joined.to_arrow_refs()))  # one copy of ~10k rows: setup, not measured
        ray.shutdown()
        staging = bench / f".rows-{customers}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        written = 0
        while written < customers:  # replica by replica, in files of at most ROWS_PER_FILE rows
            replica, at = divmod(written, table.num_rows)
            part = table.slice(at, min(ROWS_PER_FILE, table.num_rows - at, customers - written))
            shifted = pc.add(part.column("customer_id"), replica * ID_STRIDE)
            at_id = part.schema.get_field_index("customer_id")
            pq.write_table(part.set_column(at_id, "customer_id", shifted), staging / f"part-{written:09d}.parquet")
            written += part.num_rows
        staging.rename(rows_dir)
    total = sum(pq.read_metadata(f).num_rows for f in rows_dir.glob("*.parquet"))
    return total, len(models[0].layout.columns), len(models)


def _models(ws: Workspace) -> list:
    from feast import FeatureStore

    from inference.models import production_models
    from training.registry import ModelRegistry

    return production_models(ModelRegistry(ws.models_dir), FeatureStore(repo_path=str(ws.feature_repo)), None)


def _run(ws: Workspace, kind: str, customers: int, rows: int | None = None) -> dict[str, float]:
    command = [sys.executable, __file__, "--workdir", str(ws.root), "--child", kind, "--customers", str(customers)]
    proc = subprocess.run([*command, *(["--rows", str(rows)] if rows else [])], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{kind} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {kind}: {result['seconds']:.1f} s", flush=True)
    return result


def _child(ws: Workspace, rows_dir: Path, kind: str, rows: int | None) -> dict[str, float]:
    bench = rows_dir.parent
    scores_dir = bench / "scores"
    models = _models(ws)
    if kind == "baseline":
        return _plain(rows_dir, models)
    if kind == "ours":
        return _ours(ws, rows_dir, scores_dir, models)
    table = pads.dataset(scores_dir, format="parquet").head(rows)
    from feast import FeatureStore
    from feast.data_source import PushMode

    from inference.score_store import ScoreStore
    from propensity.features.definitions import SCORES_PUSH_SOURCE

    store = FeatureStore(repo_path=str(ws.feature_repo))
    if kind == "push-ours":
        subset = bench / "push-subset"
        shutil.rmtree(subset, ignore_errors=True)
        subset.mkdir()
        pq.write_table(table, subset / "part.parquet")
        started = time.perf_counter()
        ScoreStore(ws, store).push_online(subset)
        return {"seconds": time.perf_counter() - started}
    frame = table.to_pandas()
    started = time.perf_counter()
    store.push(SCORES_PUSH_SOURCE, frame, to=PushMode.ONLINE)
    return {"seconds": time.perf_counter() - started}


def _plain(rows_dir: Path, models: list) -> dict[str, float]:
    """Every model's ``inplace_predict`` on each file's float32 matrix, both cores."""
    import xgboost as xgb

    from training.booster import predict_proba

    boosters = []
    for model in models:
        booster = xgb.Booster(model_file=bytearray(model.booster))
        booster.set_param({"nthread": 2})
        boosters.append((booster, model.weight))
    layout = models[0].layout
    predicting = 0.0
    started = time.perf_counter()
    for file in sorted(rows_dir.glob("*.parquet")):
        matrix = layout.matrix(pq.read_table(file, columns=list(layout.features)))
        before = time.perf_counter()
        for booster, weight in boosters:
            predict_proba(booster, matrix, weight)
        predicting += time.perf_counter() - before
    return {"seconds": time.perf_counter() - started, "predict_seconds": predicting}


def _ours(ws: Workspace, rows_dir: Path, scores_dir: Path, models: list) -> dict[str, float]:
    import ray

    from inference.drift_check import DriftCounter
    from inference.scorer import score_dataset
    from inference.scoring import score_columns

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # A block per file (the v2 Parquet reader packs these small files into one task, which would leave one actor
    # idle); in `propensity score` the blocks come from the join instead.
    ray.data.DataContext.get_current().use_datasource_v2 = False
    from feast import FeatureStore

    columns = score_columns(FeatureStore(repo_path=str(ws.feature_repo)))
    shutil.rmtree(scores_dir, ignore_errors=True)
    now = datetime.now(UTC)
    counter = DriftCounter.remote()
    ray.get(counter.result.remote())  # started before the clock
    started = time.perf_counter()
    rows = ray.data.read_parquet(str(rows_dir))
    actors = 2  # capped by score_dataset at the CPUs less one (the reads need one): 1 actor here
    scored = score_dataset(
        rows, models, columns, stamp=now, run_id="bench", created=now, counter=counter, actors=actors
    )
    scored.write_parquet(str(scores_dir))
    return {"seconds": time.perf_counter() - started}


if __name__ == "__main__":
    main()
