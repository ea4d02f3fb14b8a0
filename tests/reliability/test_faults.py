"""Faults injected into real jobs on a two-worker Ray cluster started here: a Ray worker killed while it builds a
training set, trains or scores; the driver killed mid-build (held first, while a second writer is refused); a
materialize killed half-way. Each job must finish with the answer an undisturbed run gives, or fail with a clear
message and leave what was committed intact; a re-run must succeed.

The undisturbed answers come from the ``clean`` copy of a generated workspace, built in this process; the
faults hit the ``faulty`` copy, through the CLI as a user runs it."""

from __future__ import annotations

import math
import os
import shutil
import signal
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from feast import FeatureStore
from ray.cluster_utils import Cluster

from inference.scoring import ScoreConfig, score_customers
from propensity.config import Workspace
from propensity.datagen.raw_views import connect_raw, data_range
from propensity.features.catalog import ONLINE_PROFILE_VIEWS
from propensity.features.offline_store import OfflineStore
from propensity.features.schemas import SCORES_VIEW
from propensity.storage import sql_path
from tests.reliability.faults import WorkerKiller, finish, kill_when, propensity
from tests.support.servers import two_worker_cluster
from tests.support.workspaces import copy_workspace
from training.registry import ModelRegistry

CATEGORY = "greeting_cards"
SERVICE = "propensity_v1"


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Cluster]:
    cluster = two_worker_cluster()
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def clean(trained_workspace: tuple[Workspace, str], tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A copy of the trained workspace's data, training set and model of one category, scored without faults."""
    trained = trained_workspace[0]
    parts = ("raw", "offline", "labels", "training_sets")
    ws = copy_workspace(trained, tmp_path_factory.mktemp("clean") / "ws", parts)
    shutil.copytree(trained.models_dir / CATEGORY, ws.models_dir / CATEGORY)
    score_customers(ws, ScoreConfig())
    return ws


@pytest.fixture(scope="module")
def faulty(model_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Another copy, for the jobs that get killed (the tests below run in order on it)."""
    return copy_workspace(model_workspace, tmp_path_factory.mktemp("faulty") / "ws")


def _run_killing(ws: Workspace, cluster: Cluster, running: str, *args: str) -> str:
    """Run ``propensity <args>`` on the cluster while a worker running ``running`` is killed; its output."""
    killer = WorkerKiller(running)
    killer.start()
    code, output = finish(propensity(ws.root, *args, ray_address=cluster.address))
    killer.join()
    assert killer.killed, f"no Ray worker ran {running!r} during `propensity {' '.join(args)}`"
    assert code == 0, output[-3000:]
    return output


def test_a_worker_killed_while_joining_the_training_set(clean: Workspace, faulty: Workspace, ray_cluster) -> None:
    _run_killing(faulty, ray_cluster, "join_slice", "training-set", "--batch-rows", "2000")  # a dozen tasks to hit
    expected = pq.read_table(clean.training_sets_dir / SERVICE).sort_by([("customer_id", "ascending"),
                                                                         ("event_timestamp", "ascending")])  # fmt: skip
    got = pq.read_table(faulty.training_sets_dir / SERVICE).sort_by([("customer_id", "ascending"),
                                                                     ("event_timestamp", "ascending")])  # fmt: skip
    assert got.select(expected.column_names).equals(expected)


def test_a_worker_killed_while_training(clean: Workspace, faulty: Workspace, ray_cluster) -> None:
    _run_killing(faulty, ray_cluster, "CategoryTrainer.train", "train", "--categories", CATEGORY)
    registry, reference = ModelRegistry(faulty.models_dir), ModelRegistry(clean.models_dir)
    assert registry.versions(CATEGORY) == [1]  # the retried category is registered once
    got, expected = registry.load(CATEGORY).card, reference.load(CATEGORY).card
    assert registry.production(CATEGORY) is not None
    assert got.data_fingerprint == expected.data_fingerprint
    assert got.metrics["roc_auc"] == pytest.approx(expected.metrics["roc_auc"], abs=0.02)  # 1 thread vs 2


def test_a_worker_killed_while_scoring(clean: Workspace, faulty: Workspace, ray_cluster) -> None:
    shutil.rmtree(faulty.models_dir)
    shutil.copytree(clean.models_dir, faulty.models_dir)  # the same booster, so the same scores
    _run_killing(faulty, ray_cluster, "ModelScorer", "score")
    clean_scores, faulty_scores = (OfflineStore(w).view_dir(SCORES_VIEW) for w in (clean, faulty))
    (day,) = [p.name for p in clean_scores.glob("[0-9]*")]  # the scoring date's directory
    key = [("customer_id", "ascending")]
    expected = pq.read_table(clean_scores / day).sort_by(key).select(["customer_id", CATEGORY])
    got = pq.read_table(faulty_scores / day).sort_by(key).select(["customer_id", CATEGORY])
    assert got.equals(expected)
    sample = expected.column("customer_id").to_pylist()[::50]
    online = _online(faulty, [f"{SCORES_VIEW}:{CATEGORY}"], sample)
    assert online[CATEGORY] == expected.column(CATEGORY).to_pylist()[::50]


def test_the_driver_killed_mid_build_loses_nothing_and_a_rerun_finishes(
    clean: Workspace, faulty: Workspace, ray_cluster
) -> None:
    """Also: while the build holds a staged batch, a second writer is refused naming it and a reader sees the old
    data. (A one-date build: it stages and commits as a full build does, month by month.)"""
    before = _offline_content(faulty)
    assert before == _offline_content(clean)
    build_args = ("features", "build", "--as-of", str(data_range(connect_raw(faulty))[1] + timedelta(days=1)))
    build = propensity(faulty.root, *build_args, ray_address=ray_cluster.address)
    staging = faulty.offline_dir / ".staging"
    assert kill_when(build, lambda: any(staging.glob("*/*/*/*.parquet")), kill=False), "the build ended first"
    os.killpg(build.pid, signal.SIGSTOP)  # held mid-build, its lock taken and a batch staged
    try:
        code, output = finish(propensity(faulty.root, "labels"))
        assert code == 2 and f"is in use by `propensity features build` (pid {build.pid}" in " ".join(output.split())
        code, output = finish(propensity(faulty.root, "sql", "SELECT count(*) AS n FROM customer_profile"))
        assert code == 0, output[-2000:]
    finally:  # never leave a stopped build holding the workspace, even when a check above fails
        os.killpg(build.pid, signal.SIGKILL)
        build.communicate()
    assert any(staging.iterdir())  # the kill left a staged batch behind, outside every view
    assert _offline_content(faulty) == before  # every month still whole: the old build's

    code, output = finish(propensity(faulty.root, *build_args, ray_address=ray_cluster.address))
    assert code == 0, output[-3000:]
    assert not any(staging.iterdir())  # the re-run swept the dead build's staging
    assert _offline_content(faulty) == before


def test_a_materialize_killed_half_way_then_rerun_serves_the_latest_rows(faulty: Workspace) -> None:
    online_db = faulty.feast_dir / "online_store.db"
    views = [f"propensity_{view}" for view in ONLINE_PROFILE_VIEWS]
    assert _online_rows(online_db, views) == 0  # never materialized
    materialize = propensity(faulty.root, "features", "materialize")
    assert kill_when(materialize, lambda: _online_rows(online_db, views) > 0), "materialize ended before the kill"
    customers = _latest(faulty, ONLINE_PROFILE_VIEWS[0]).column("customer_id").to_pylist()[::40]
    _online(faulty, _features(faulty, ONLINE_PROFILE_VIEWS[0]), customers)  # the store still reads

    code, output = finish(propensity(faulty.root, "features", "materialize"))
    assert code == 0, output[-3000:]
    for view in ONLINE_PROFILE_VIEWS:
        latest = _latest(faulty, view)
        names = [name.split(":")[1] for name in _features(faulty, view)]
        rows = {r["customer_id"]: r for r in latest.select(["customer_id", *names]).to_pylist()}
        customers = sorted(rows)[::40]
        online = _online(faulty, _features(faulty, view), customers)
        for i, customer in enumerate(customers):
            for name in names:
                assert _same(online[name][i], rows[customer][name]), (view, customer, name)


def _offline_content(ws: Workspace) -> dict[str, tuple]:
    """Per feature view: rows, an order-free checksum of every scalar column but ``created_at``, and the sum of
    its array columns rounded (DuckDB sums floats in a thread-dependent order)."""
    con = duckdb.connect()
    content = {}
    for directory in sorted(p for p in ws.offline_dir.iterdir() if any(p.glob("[0-9]*/*.parquet"))):
        if directory.name == SCORES_VIEW:
            continue
        files = f"read_parquet('{sql_path(directory)}/[0-9]*/*.parquet')"
        schema = pq.read_schema(next(directory.glob("[0-9]*/*.parquet")))
        arrays = [f.name for f in schema if pa.types.is_list(f.type)]
        scalars = [f'"{f.name}"' for f in schema if f.name not in arrays and f.name != "created_at"]
        aggregates = [f"bit_xor(hash({c}))" for c in scalars] + [f'round(sum(list_sum("{a}")), 1)' for a in arrays]
        content[directory.name] = con.sql(f"SELECT count(*), {', '.join(aggregates)} FROM {files}").fetchall()[0]
    return content


def _latest(ws: Workspace, view: str) -> pa.Table:
    table = pq.read_table(OfflineStore(ws).view_dir(view))
    return table.filter(pc.equal(table.column("event_timestamp"), pc.max(table.column("event_timestamp"))))


def _same(online: object, offline: object) -> bool:
    if isinstance(online, float) and isinstance(offline, float):
        return math.isclose(online, offline, rel_tol=1e-6)  # Float32 online, DOUBLE offline
    return online == offline


def _features(ws: Workspace, view: str) -> list[str]:
    store = FeatureStore(repo_path=str(ws.activate().feature_repo))
    return [f"{view}:{f.name}" for f in store.get_feature_view(view).features]


def _online(ws: Workspace, features: list[str], customers: list[int]) -> dict[str, list]:
    store = FeatureStore(repo_path=str(ws.activate().feature_repo))
    return store.get_online_features(features, [{"customer_id": c} for c in customers]).to_dict()


def _online_rows(path: Path, tables: list[str]) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1) as con:
            return sum(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
    except sqlite3.OperationalError:  # locked by the writer
        return 0
