"""The same command on a multi-node Ray cluster: ``propensity training-set`` with ``RAY_ADDRESS`` set."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ray.cluster_utils import Cluster

from tests.training.cases import make_repo, write_rows
from tests.training.test_training_set import assert_same_rows


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head node without CPUs and two worker nodes of one CPU: every task runs away from the driver's node."""
    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 0})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


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
