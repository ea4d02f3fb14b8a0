"""One writer per workspace: a second one is refused naming the first, a crashed holder frees the lock, and the
holder sweeps what crashed writers left (but not a scoring run's pending recovery)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from propensity.config import Workspace
from propensity.workspace_lock import HOLDER_FILE, WorkspaceBusyError, WorkspaceLock

HOLD = """
import sys, time
from propensity.config import Workspace
from propensity.workspace_lock import WorkspaceLock
lock = WorkspaceLock(Workspace.resolve(sys.argv[1]), "propensity run")
lock.acquire()
time.sleep(600)
"""


def test_a_second_writer_is_refused_until_the_first_dies(tmp_path: Path) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ws.root)])
    try:
        deadline = time.monotonic() + 60
        while not (ws.root / HOLDER_FILE).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(WorkspaceBusyError, match=rf"in use by `propensity run` \(pid {holder.pid}, since"):
            WorkspaceLock(ws, "propensity score").acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = WorkspaceLock(ws, "propensity score")
    lock.acquire()  # the dead holder's lock went with its process
    lock.release()
    assert not (ws.root / HOLDER_FILE).exists()


def test_the_holder_sweeps_leftovers_of_crashed_writers(tmp_path: Path) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    kept = [
        ws.offline_dir / "customer_profile" / "2025-01" / "bucket-0000.parquet",
        ws.labels_dir / "labels.parquet",
        ws.offline_dir / ".staging" / ".2025-02-01.staging-0123456789ab" / "part.parquet",  # push began: kept
        ws.offline_dir / ".staging" / ".2025-02-01.staging-0123456789ab.pushing",
    ]
    swept = [
        ws.root / ".raw.staging-0123456789ab" / "orders" / "part-00000.parquet",
        ws.training_sets_dir / ".propensity_v1.retired-abcdef012345" / "a.parquet",
        ws.models_dir / "photo_books" / ".v3.staging-abcdef012345" / "model.ubj",
        ws.reports_dir / "run-1" / ".stages.json.tmp-abcdef012345",
        ws.offline_dir / ".staging" / "0123456789ab" / "customer_profile" / "2025-01" / "bucket-0000.parquet",
        ws.offline_dir / ".staging" / "entities-20250101T000000-abcdef.parquet",
    ]
    for path in kept + swept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    lock = WorkspaceLock(ws, "propensity run")
    lock.acquire()
    lock.release()
    assert all(path.exists() for path in kept)
    assert not any(path.exists() for path in swept)
    assert not (ws.root / ".raw.staging-0123456789ab").exists()
