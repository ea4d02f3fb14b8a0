"""The feature build as Ray tasks: the same files for any number of workers, on a two-node cluster, and after a
task's worker is killed mid-build (Ray runs the slice again)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
from ray.cluster_utils import Cluster

from propensity.config import WORKDIR_ENV, Workspace
from propensity.features.catalog import workspace_catalog
from propensity.features.config import BuildConfig
from propensity.features.pipeline import build_features
from tests.support.workspaces import copy_workspace


def _contents(ws: Workspace) -> dict[str, tuple[pa.Table, int]]:
    """Every data file of every view: its rows without the build time, and its row groups."""
    files = {}
    for view in workspace_catalog(ws):
        for path in sorted((ws.offline_dir / view.name).glob("*/*.parquet")):
            rows = pq.read_table(path).drop(["created_at"])
            files[str(path.relative_to(ws.offline_dir))] = (rows, pq.ParquetFile(path).num_row_groups)
    return files


def _rebuilt(source: Workspace, root: Path) -> Workspace:
    """A copy of ``source``'s raw data and offline store (its layout and product embeddings), to build again."""
    return copy_workspace(source, root, ("raw", "offline"), registry=False)


def _assert_same_files(ws: Workspace, reference: Workspace) -> None:
    built, expected = _contents(ws), _contents(reference)
    assert built.keys() == expected.keys()
    assert len(built) > len(workspace_catalog(ws))  # several months and buckets per view
    for name, (table, groups) in expected.items():
        assert built[name][0].equals(table), name
        assert built[name][1] == groups, name


def test_one_worker_builds_the_same_files_as_two(small_workspace: Workspace, tmp_path: Path) -> None:
    ws = _rebuilt(small_workspace, tmp_path / "ws")
    report = build_features(ws, config=BuildConfig(workers=1, task_memory_gib=0.5))
    assert sum(report.rows.values()) > 0
    _assert_same_files(ws, small_workspace)  # built by the fixture with a worker per CPU


def test_a_two_node_cluster_builds_the_same_files(cluster: Cluster, small_workspace: Workspace, tmp_path: Path) -> None:
    ws = _rebuilt(small_workspace, tmp_path / "ws")
    env = {**os.environ, WORKDIR_ENV: str(ws.root), "RAY_ADDRESS": cluster.address}
    command = [sys.executable, "-m", "propensity", "features", "build"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "3 node(s), 2 CPU(s)" in result.stdout + result.stderr  # a head without CPUs, two workers
    _assert_same_files(ws, small_workspace)


def test_a_slice_whose_worker_dies_is_built_again(small_workspace: Workspace, tmp_path: Path) -> None:
    ws = _rebuilt(small_workspace, tmp_path / "ws")
    killed: list[int] = []
    finished = threading.Event()

    def kill_one_slice() -> None:
        while not finished.wait(0.05) and not killed:
            for process in psutil.process_iter(["pid", "cmdline"]):
                if "ray::build_slice" in " ".join(process.info["cmdline"] or []):
                    os.kill(process.info["pid"], signal.SIGKILL)
                    killed.append(process.info["pid"])
                    break

    killer = threading.Thread(target=kill_one_slice)
    killer.start()
    try:
        build_features(ws, config=BuildConfig(workers=1))
    finally:
        finished.set()
        killer.join()
    assert killed
    _assert_same_files(ws, small_workspace)


def _build_times(ws: Workspace) -> dict[str, object]:
    """The build time of every data file (one per file: a build writes a file whole)."""
    files = (ws.offline_dir / view.name for view in workspace_catalog(ws))
    return {str(p): pq.read_table(p, columns=["created_at"]).column(0)[0] for d in files for p in d.glob("*/*.parquet")}


def test_a_build_since_a_date_rebuilds_the_months_from_its_month_on(small_workspace: Workspace, tmp_path: Path) -> None:
    ws = _rebuilt(small_workspace, tmp_path / "ws")
    before = _build_times(ws)
    months = sorted({Path(name).parent.name for name in before})
    report = build_features(ws, since=date.fromisoformat(f"{months[-2]}-20"))
    assert {d.strftime("%Y-%m") for d in report.dates} == set(months[-2:])  # the whole month of the date
    after = _build_times(ws)
    rebuilt = {name for name in after if Path(name).parent.name in months[-2:]}
    assert rebuilt and all(after[name].as_py() > before[name].as_py() for name in rebuilt)
    assert all(after[name] == before[name] for name in after.keys() - rebuilt)
    _assert_same_files(ws, small_workspace)
