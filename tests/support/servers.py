"""Local servers for tests: free ports to run them on, and Ray clusters of several nodes on this machine."""

from __future__ import annotations

import socket

from ray.cluster_utils import Cluster


def free_port() -> int:
    """A loopback TCP port free at the time of asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def two_worker_cluster() -> Cluster:
    """A head node without CPUs and two worker nodes of one CPU: every task runs away from the driver's node."""
    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 0})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    return cluster
