"""The Ray session every stage shares: the cluster named by ``RAY_ADDRESS``, else a local one."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import ray
import ray.data


def ensure_ray() -> None:
    """Connect to Ray once per process: ``RAY_ADDRESS`` when set (an existing cluster; ``auto`` finds the one
    started on this machine), else a new local instance of this process's own. Ray alone would join whatever
    cluster last started on the machine, another user's job included. A local instance's processes end with this
    process, even when it is killed (:mod:`propensity.ray_reaper`)."""
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS") or "local"
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        if address == "local":
            _start_reaper()


def _start_reaper() -> None:
    """The watcher that kills this process's Ray processes once it is gone (in a session of its own, so a
    Ctrl-C or a kill of the driver's process group leaves it to do that)."""
    subprocess.Popen(
        [sys.executable, "-m", "propensity.ray_reaper", str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def cluster_cpus() -> int:
    """CPUs of the whole Ray cluster (connecting first if needed)."""
    ensure_ray()
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def largest_node_cpus() -> int:
    """CPUs of the biggest live node: the most one task or actor can be given."""
    ensure_ray()
    return max([int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n["Alive"]] + [1])


def worker_threads(cpus: int, workers: int) -> int:
    """Threads for each of ``workers`` sharing ``cpus``: never more than the largest node has."""
    return max(1, min(cpus // workers, largest_node_cpus()))


def node_memories() -> list[float]:
    """Bytes of memory Ray may use on each live node with CPUs."""
    ensure_ray()
    nodes = [n["Resources"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0]
    return [float(n.get("memory", 0)) for n in nodes]


def smallest_node_memory() -> float:
    """Bytes of memory Ray may use on the smallest live node with CPUs."""
    return min(node_memories(), default=0.0)


def cluster_summary() -> str:
    """The Ray cluster this process uses, in a few words: address, live nodes and CPUs."""
    ensure_ray()
    nodes = [node for node in ray.nodes() if node["Alive"]]
    address = ray.get_runtime_context().gcs_address
    return f"Ray cluster at {address}: {len(nodes)} node(s), {cluster_cpus()} CPU(s)"


def session_logs() -> str:
    """Where Ray keeps this session's logs on the head node (each worker's output among them)."""
    node = getattr(ray._private.worker, "_global_node", None)  # Ray has no public call for it
    return f"{node.get_session_dir_path()}/logs" if node is not None else "the head node's /tmp/ray/session_latest/logs"


def quiet_ray_data() -> None:
    """Keep Ray Data's own progress bars and progress logs off the terminal (the caller shows progress)."""
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
