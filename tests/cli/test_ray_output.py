"""Ray kept off the terminal: a stage whose Ray workers are killed for want of memory ends in a few lines (which
stage, that memory ran out, what uses it, what to change) with Ray's report in the run's log, and the workspace
as it was. Ray's memory monitor is made to kill at once: a Ray instance of the command's own, started with a
threshold of 1% of the machine's memory (``RAY_memory_usage_threshold``), which any machine is above."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from propensity.config import WORKDIR_ENV, Workspace
from propensity.workspace_lock import LOCK_FILE
from tests.support.workspaces import copy_workspace


def _contents(ws: Workspace) -> dict[str, tuple[int, int]]:
    """Every path of the workspace with size and modification time, but its reports (where the run's log goes)
    and the lock file every writing command takes."""
    return {
        str(path.relative_to(ws.root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in ws.root.rglob("*")
        if path.relative_to(ws.root).parts[0] not in ("reports", LOCK_FILE)
    }


def test_a_stage_killed_for_memory_ends_in_a_few_lines_and_leaves_the_workspace_as_it_was(
    small_workspace: Workspace, tmp_path: Path
) -> None:
    ws = copy_workspace(small_workspace, tmp_path / "ws")
    before = _contents(ws)
    env = {name: value for name, value in os.environ.items() if name != "RAY_ADDRESS"}  # a Ray instance of its own
    env.update({
        WORKDIR_ENV: str(ws.root),
        "RAY_memory_usage_threshold": "0.01",
        "RAY_memory_monitor_refresh_ms": "100",
        "RAY_task_oom_retries": "0",
    })  # fmt: skip
    command = [sys.executable, "-m", "propensity", "run", "--from", "training-set", "--to", "train"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)

    assert result.returncode == 2, result.stderr[-3000:]
    said = " ".join(result.stderr.split())
    assert "error: training-set: memory ran out" in said
    assert re.search(r"memory in use: [\d.]+ of [\d.]+ GiB; largest: [\d.]+ GiB \S+", said)
    assert "`propensity training-set --workers 1`" in said
    assert "resume with `propensity run --from training-set`" in said
    assert len(result.stderr.strip().splitlines()) <= 15
    for noise in ("Traceback", "Started a local Ray instance", "OutOfMemoryError", "Top 10 memory users"):
        assert noise not in result.stderr, noise

    log = Path(re.search(r"Ray's full report: (\S+)", said).group(1))
    assert log.parent.parent == ws.reports_dir
    report = log.read_text()
    assert "ray.exceptions.OutOfMemoryError" in report and "Started a local Ray instance" in report
    assert _contents(ws) == before
    assert not ws.training_sets_dir.exists() and not ws.models_dir.exists()
