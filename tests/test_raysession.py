"""Which Ray a process uses: the cluster ``RAY_ADDRESS`` names, else a local instance of its own."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import psutil
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


AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")
STARTED = (
    "from propensity.raysession import ensure_ray; import time; ensure_ray(); print('up', flush=True); time.sleep(99)"
)


def test_a_killed_driver_leaves_no_ray_process_of_its_local_instance_behind() -> None:
    base = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    driver = subprocess.Popen([sys.executable, "-c", STARTED], env=base, stdout=subprocess.PIPE, text=True)
    seen: list[psutil.Process] = []
    try:
        assert driver.stdout is not None and driver.stdout.readline() == "up\n"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the raylet starts its agents shortly after ray.init returns
            seen = psutil.Process(driver.pid).children(recursive=True)
            if {name for p in seen for name in AGENTS if name in " ".join(p.cmdline())} == set(AGENTS):
                break
            time.sleep(0.5)
        assert any("raylet" in p.name() for p in seen), [p.name() for p in seen]
        time.sleep(2)  # the reaper polls the driver's descendants every half second
        driver.kill()
        driver.wait()
        _, alive = psutil.wait_procs(seen, timeout=30)
        assert alive == [], [p.cmdline() for p in alive]
    finally:
        driver.kill()
        for process in seen:  # only this test's own Ray processes, should any have survived
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
