"""Soak: the daily cycle repeated for many simulated days on one workspace, watching for anything that grows or
slows down when it should not.

Setup: ``propensity datagen`` writes the whole history into a source directory. The workspace gets the raw
events before day 0 and a full ``propensity run --from features`` (features, registry, online store, labels,
training set, models, scores). Then, for each day D = day 0 + 1 .. day 0 + ``--days``:

1. the events of the day before arrive: the workspace's raw tables are replaced by the source's events before D
   (emails opened or clicked later show as not yet opened or clicked);
2. ``propensity features build --as-of D`` adds the day's snapshot;
3. ``propensity features materialize --incremental`` loads what is new into the online store;
4. ``propensity score --as-of D`` scores every eligible customer and pushes the scores offline and online;
5. checks: for ``--sample`` customers, every feature of the online views and every score read online through
   Feast equals the offline row at D; leftovers of staging (``.staging``, ``.retired``) are counted.

Each command runs as its own process (as a scheduler would start it). Per day it records each step's seconds,
the snapshot rows and scores written, and the disk use of each workspace part; the summary compares the first
and last five days (medians).

    python bench/soak.py --root /tmp/soak --customers 5000 --days 30

The last line is ``daily_seconds_last_over_first=<x>`` (median of the last five days over the first five).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from propensity.config import Workspace
from propensity.datagen.output import raw_output, read_manifest, write_tables
from propensity.datagen.schema import RAW_SCHEMAS
from propensity.features.catalog import ONLINE_PROFILE_VIEWS
from propensity.features.offline_store import OfflineStore
from propensity.features.schemas import SCORES_VIEW
from propensity.storage import sql_path

ARRIVAL = {  # the column that says when a row of a raw table became known
    "customers": "signup_at",
    "orders": "ordered_at",
    "order_lines": "ordered_at",
    "sessions": "started_at",
    "session_views": "started_at",
    "emails": "sent_at",
}
LATER = {"emails": ("opened_at", "clicked_at")}  # known only once they happened
PARTS = ("raw", "offline", "feast", "models", "reports", "labels", "training_sets")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="scratch directory (source and workspace)")
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2025, 12, 31), help="last day of events")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sample", type=int, default=200, help="customers compared online vs offline per day")
    args = parser.parse_args()

    source, ws = args.root / "source", Workspace.resolve(args.root / "workspace").activate()
    if not (source / "raw").is_dir():
        cli(["datagen", "--customers", str(args.customers), "--end", str(args.end)], source)
    day0 = args.end + timedelta(days=1 - args.days)
    if not ws.models_dir.is_dir():  # else resume on the workspace of an earlier soak
        arrive(source / "raw", ws, day0)
        setup = timed(["run", "--from", "features"], ws.root)
        print(json.dumps({"setup_seconds": setup, "day0": str(day0)}), flush=True)

    scored = sorted(p.name for p in OfflineStore(ws).view_dir(SCORES_VIEW).iterdir() if not p.name.startswith("."))
    resume = (date.fromisoformat(scored[-1]) - day0).days + 1  # an interrupted soak goes on from its last day
    days = []
    for n in range(max(1, resume), args.days + 1):
        day = day0 + timedelta(days=n)
        record: dict[str, object] = {"day": str(day)}
        began = time.perf_counter()
        arrive(source / "raw", ws, day)
        record["arrive_s"] = round(time.perf_counter() - began, 2)
        record["build_s"] = timed(["features", "build", "--as-of", str(day)], ws.root)
        record["materialize_s"] = timed(["features", "materialize", "--incremental"], ws.root)
        record["score_s"] = timed(["score", "--as-of", str(day)], ws.root)
        record["cycle_s"] = round(sum(record[k] for k in ("arrive_s", "build_s", "materialize_s", "score_s")), 2)
        record.update(day_rows(ws, day))
        record["online_mismatches"] = online_mismatches(ws, day, args.sample)
        record["leftovers"] = leftovers(ws)
        record["disk_mb"] = {part: round(disk_bytes(ws.root / part) / 2**20, 1) for part in PARTS}
        days.append(record)
        print(json.dumps(record), flush=True)
    summarise(days)


def cli(args: list[str], workdir: Path) -> None:
    env = {**os.environ, "PROPENSITY_WORKDIR": str(workdir)}
    result = subprocess.run([sys.executable, "-m", "propensity", *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"`propensity {' '.join(args)}` failed:\n{result.stderr[-4000:]}")


def timed(args: list[str], workdir: Path) -> float:
    began = time.perf_counter()
    cli(args, workdir)
    return round(time.perf_counter() - began, 2)


def arrive(source_raw: Path, ws: Workspace, day: date) -> None:
    """Replace the workspace's raw tables by the source's events before ``day`` (one atomic rename)."""
    cutoff = datetime(day.year, day.month, day.day, tzinfo=UTC)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    manifest = read_manifest(source_raw)
    with raw_output(ws.raw_dir, overwrite=True, source={**manifest["source"], "arrived_before": str(day)}) as out:
        for name in RAW_SCHEMAS:
            columns = [
                f"CASE WHEN {c} < $1 THEN {c} END AS {c}" if c in LATER.get(name, ()) else c
                for c in RAW_SCHEMAS[name].names
            ]
            where = f"WHERE {ARRIVAL[name]} < $1" if name in ARRIVAL else ""
            query = f"SELECT {', '.join(columns)} FROM read_parquet('{sql_path(source_raw / name)}/*.parquet') {where}"
            table = con.sql(query, params=[cutoff] if "$1" in query else None).to_arrow_table()
            out.add(write_tables(out.root, {name: table}, part=0))


def day_rows(ws: Workspace, day: date) -> dict[str, int]:
    """Rows of the day's snapshot (all views) and of its scores; rows of the whole offline store."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    stamp = datetime(day.year, day.month, day.day, tzinfo=UTC)
    snapshot = 0
    views = {p.parent.parent.name for p in ws.offline_dir.glob("*/[0-9]*/*.parquet")} - {SCORES_VIEW}
    for view in sorted(views):
        files = f"{sql_path(OfflineStore(ws).view_dir(view))}/[0-9]*/*.parquet"
        snapshot += con.execute(
            f"SELECT count(*) FROM read_parquet('{files}') WHERE event_timestamp = $1", [stamp]
        ).fetchall()[0][0]
    scores = f"{sql_path(OfflineStore(ws).view_dir(SCORES_VIEW) / str(day))}/*.parquet"
    scored = con.execute(f"SELECT count(*) FROM read_parquet('{scores}')").fetchall()[0][0]
    every = f"{sql_path(ws.offline_dir)}/*/[0-9]*/*.parquet"
    total = con.execute(f"SELECT count(*) FROM read_parquet('{every}')").fetchall()[0][0]
    return {"snapshot_rows": snapshot, "scored_rows": scored, "offline_rows": total}


def online_mismatches(ws: Workspace, day: date, sample: int) -> int:
    """Values of ``sample`` scored customers that differ between Feast's online store and the offline rows at
    ``day`` (every feature of the online views, every score)."""
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(ws.feature_repo))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    stamp = datetime(day.year, day.month, day.day, tzinfo=UTC)
    offline = OfflineStore(ws)
    scores_dir = f"{sql_path(offline.view_dir(SCORES_VIEW) / str(day))}/*.parquet"
    ids = [r[0] for r in con.execute(
        f"SELECT customer_id FROM read_parquet('{scores_dir}') ORDER BY hash(customer_id) LIMIT {int(sample)}"
    ).fetchall()]  # fmt: skip
    mismatches = 0
    for view_name in (*ONLINE_PROFILE_VIEWS, SCORES_VIEW):
        view = store.get_feature_view(view_name)
        names = [f.name for f in view.features]
        online = store.get_online_features(
            [f"{view_name}:{n}" for n in names], [{"customer_id": i} for i in ids]
        ).to_dict()
        if view_name == SCORES_VIEW:
            path, where = scores_dir, ""
        else:
            path, where = f"{sql_path(offline.view_dir(view_name))}/[0-9]*/*.parquet", "AND event_timestamp = $2"
        quoted = ", ".join(f'"{n}"' for n in names)
        rows = con.execute(
            f"SELECT customer_id, {quoted} FROM read_parquet('{path}') WHERE list_contains($1, customer_id) {where}",
            [ids, stamp] if where else [ids],
        ).fetchall()
        offline = {r[0]: r[1:] for r in rows}
        for i, customer in enumerate(online["customer_id"]):
            expected = offline.get(customer, (None,) * len(names))
            for name, want in zip(names, expected, strict=True):
                if not same(online[name][i], want):
                    mismatches += 1
    return mismatches


def same(got: object, want: object) -> bool:
    if isinstance(got, float) and isinstance(want, float):
        return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(got) and math.isnan(want))
    if isinstance(want, datetime) and isinstance(got, datetime):
        return want.astimezone(UTC) == got.astimezone(UTC)
    return got == want


def leftovers(ws: Workspace) -> int:
    """Staging or retired directories and temporary files left anywhere in the workspace."""
    marks = (".staging-", ".retired-", ".tmp-")
    staged = ws.offline_dir / ".staging"
    inside = sum(1 for _ in staged.iterdir()) if staged.is_dir() else 0
    return inside + sum(1 for p in ws.root.rglob(".*") if any(m in p.name for m in marks))


def disk_bytes(path: Path) -> int:
    """Bytes of the files under ``path``, each hard-linked file once."""
    files = {(s.st_dev, s.st_ino): s.st_size for s in (p.stat() for p in path.rglob("*") if p.is_file())}
    return sum(files.values())


def summarise(days: list[dict]) -> None:
    def med(key: str, part: slice) -> float:
        return statistics.median(float(d[key]) for d in days[part])

    first, last = slice(0, 5), slice(-5, None)
    growth = [days[i + 1]["disk_mb"]["offline"] - days[i]["disk_mb"]["offline"] for i in range(len(days) - 1)]
    summary = {
        "days": len(days),
        **{f"{k}_first5": med(k, first) for k in ("build_s", "materialize_s", "score_s", "cycle_s")},
        **{f"{k}_last5": med(k, last) for k in ("build_s", "materialize_s", "score_s", "cycle_s")},
        "snapshot_rows_first_last": [days[0]["snapshot_rows"], days[-1]["snapshot_rows"]],
        "scored_rows_first_last": [days[0]["scored_rows"], days[-1]["scored_rows"]],
        "offline_mb_growth_per_day_median": statistics.median(growth) if growth else 0.0,
        "disk_mb_first": days[0]["disk_mb"],
        "disk_mb_last": days[-1]["disk_mb"],
        "online_mismatches_total": sum(d["online_mismatches"] for d in days),
        "leftovers_max": max(d["leftovers"] for d in days),
    }
    print(json.dumps(summary), flush=True)
    print(f"daily_seconds_last_over_first={med('cycle_s', last) / med('cycle_s', first):.3f}")


if __name__ == "__main__":
    main()
