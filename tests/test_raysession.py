"""Which Ray a process uses: the cluster ``RAY_ADDRESS`` names, else a local instance of its own."""

from __future__ import annotations

import os
import subprocess
import sys

from ray.cluster_utils import Cluster

SUMMARY = "from propensity.raysession import cluster_summary; print(cluster_summary())"


def _summary(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    result = subprocess.run(
        [sys.executable, "-c", SUMMARY], env={**base, **env}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_without_an_address_a_process_starts_its_own_ray_beside_a_running_cluster(cluster: Cluster) -> None:
    own = _summary()
    assert cluster.address not in own and ": 1 node(s)" in own  # not the three-node cluster started here
    joined = _summary(RAY_ADDRESS=cluster.address)
    assert f"Ray cluster at {cluster.address}: 3 node(s), 2 CPU(s)" in joined
