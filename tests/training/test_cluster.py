"""The same commands on a multi-node Ray cluster: ``propensity training-set`` and ``propensity train`` with
``RAY_ADDRESS`` set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from ray.cluster_utils import Cluster

from propensity.config import Workspace
from tests.support.assertions import assert_good_and_reproducible, assert_same_rows
from tests.training.cases import make_repo, write_rows


def test_training_set_cli_on_a_two_worker_cluster_from_s3(cluster: Cluster, s3_bucket: str, tmp_path: Path) -> None:
    """The join's tasks, all on worker nodes, read the sources from S3 (a local S3-compatible server) and equal
    Feast's DuckDB store on the same rows on disk."""
    local = tmp_path / "local"
    store = make_repo(local)
    entities = write_rows(local, 7)
    fs, bucket = pafs.FileSystem.from_uri(s3_bucket)
    pafs.copy_files(str(local / "data"), f"{bucket}/{tmp_path.name}", destination_filesystem=fs)
    root = tmp_path / "repo"
    make_repo(root, data=f"{s3_bucket}/{tmp_path.name}", offline_store="dask")
    pq.write_table(pa.Table.from_pandas(entities, preserve_index=False), tmp_path / "entities.parquet")
    command = [
        sys.executable, "-m", "propensity", "training-set", "--repo", str(root), "--feature-service", "everything",
        "--labels", str(tmp_path / "entities.parquet"), "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    env = {**os.environ, "RAY_ADDRESS": cluster.address, "PROPENSITY_WORKDIR": str(tmp_path / "ws")}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Ray cluster at {cluster.address}: 3 node(s), 2 CPU(s)" in " ".join(result.stderr.split())
    expected = store.get_historical_features(entities, store.get_feature_service("everything")).to_arrow()
    got = pq.read_table(tmp_path / "out")
    assert_same_rows(expected, got.select(expected.column_names).cast(expected.schema))


def test_train_data_parallel_across_a_two_worker_cluster(
    cluster: Cluster, trained_workspace: tuple[Workspace, str], tmp_path: Path
) -> None:
    """Ray Train across the cluster (one worker per node, XGBoost's collective between them) trains a good model
    whose AUC reproduces from the written training set. The copied training set is current (the copies keep the
    files' times), so it is not joined again. (Per-category on a cluster against a local run:
    tests/reliability/test_faults.py.)"""
    category = "photo_books"
    ws = Workspace.resolve(tmp_path / "spread")
    for part in ("raw", "offline", "feast", "labels", "training_sets"):
        shutil.copytree(trained_workspace[0].root / part, ws.root / part)
    command = [sys.executable, "-m", "propensity", "train", "--categories", category, "--strategy", "data-parallel"]
    env = {**os.environ, "RAY_ADDRESS": cluster.address, "PROPENSITY_WORKDIR": str(ws.root)}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Ray cluster at {cluster.address}: 3 node(s), 2 CPU(s)" in " ".join(result.stderr.split())
    assert "(data-parallel)" in result.stderr
    assert f"training set: {ws.training_sets_dir / 'propensity_v1'}, current" in " ".join(result.stderr.split())
    assert_good_and_reproducible(ws, category)
