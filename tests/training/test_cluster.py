"""The same commands on a multi-node Ray cluster: ``propensity training-set`` and ``propensity train`` with
``RAY_ADDRESS`` set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ray.cluster_utils import Cluster

from propensity.config import Workspace
from tests.training.cases import make_repo, write_rows
from tests.training.test_training_set import assert_same_rows
from training.registry import ModelRegistry


def test_training_set_cli_on_a_two_worker_cluster(cluster: Cluster, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    store = make_repo(root)
    entities = write_rows(root, 7)
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


def test_train_on_a_two_worker_cluster_matches_a_local_run(
    cluster: Cluster, model_workspace: Workspace, tmp_path: Path
) -> None:
    """Per category (one actor per node) and data-parallel (Ray Train, one worker per node, XGBoost's collective
    across them) on the cluster, against a local per-category run."""
    categories = ["photo_books"]  # one category: the strategies, not the categories, are under test
    local, remote, spread = (Workspace.resolve(tmp_path / name) for name in ("local", "remote", "spread"))
    for ws in (local, remote, spread):
        for part in ("raw", "offline", "feast", "labels"):
            shutil.copytree(model_workspace.root / part, ws.root / part)
    command = [sys.executable, "-m", "propensity", "train", "--categories", ",".join(categories)]
    runs = {
        local: ({"RAY_ADDRESS": "local"}, []),
        remote: ({"RAY_ADDRESS": cluster.address}, []),
        spread: ({"RAY_ADDRESS": cluster.address}, ["--strategy", "data-parallel"]),
    }
    for ws, (env, options) in runs.items():
        env = {**os.environ, **env, "PROPENSITY_WORKDIR": str(ws.root)}
        result = subprocess.run([*command, *options], env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        if ws is not local:
            assert f"Ray cluster at {cluster.address}: 3 node(s), 2 CPU(s)" in " ".join(result.stderr.split())
    assert "(data-parallel)" in result.stderr
    for category in categories:
        here, there, across = (ModelRegistry(ws.models_dir).load(category).card for ws in (local, remote, spread))
        assert there.data_fingerprint == here.data_fingerprint == across.data_fingerprint
        assert there.metrics["roc_auc"] > 0.7 and across.metrics["roc_auc"] > 0.7
        assert there.metrics["roc_auc"] == pytest.approx(here.metrics["roc_auc"], abs=0.02)
