"""One writer per workspace: a second one is refused naming the first, a crashed holder frees the lock, and the
holder sweeps what crashed writers left (but not a scoring run's pending recovery)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from propensity.analytics.views import WorkspaceViews
from propensity.cli import app
from propensity.config import Workspace
from propensity.storage import aside_name
from propensity.workspace_lock import HOLDER_FILE, WorkspaceBusyError, WorkspaceLock
from tests.support.known import KnownWorkspace

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


OWNER = """
import sys, time
from propensity.storage import aside_name
print(" ".join(aside_name(name, kind) for name, kind in zip(sys.argv[1::2], sys.argv[2::2])), flush=True)
time.sleep(600)
"""


def _names_of_a_process(*pairs: str) -> tuple[subprocess.Popen, list[str]]:
    """A running process and the aside names it made for the (name, kind) ``pairs``."""
    process = subprocess.Popen([sys.executable, "-c", OWNER, *pairs], stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().split()


def _dead_names(*pairs: str) -> list[str]:
    process, names = _names_of_a_process(*pairs)
    process.kill()
    process.wait()
    return names


def _touch(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_the_holder_sweeps_leftovers_of_crashed_writers(tmp_path: Path) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    raw, retired, version, stages = _dead_names(
        "raw", "staging", "propensity_v1", "retired", "v3", "staging", "stages.json", "tmp"
    )
    kept = [
        ws.offline_dir / "customer_profile" / "2025-01" / "bucket-0000.parquet",
        ws.labels_dir / "labels.parquet",
        ws.offline_dir / ".staging" / ".2025-02-01.staging-0123456789ab" / "part.parquet",  # push began: kept
        ws.offline_dir / ".staging" / ".2025-02-01.staging-0123456789ab.pushing",
        ws.root / ".raw.staging-0123456789ab" / "orders" / "part-00000.parquet",  # no owner recorded: kept
        ws.training_sets_dir / aside_name("propensity_v1", "staging") / "a.parquet",  # a live owner's: kept
    ]
    swept = [
        ws.root / raw / "orders" / "part-00000.parquet",
        ws.training_sets_dir / retired / "a.parquet",
        ws.models_dir / "photo_books" / version / "model.ubj",
        ws.reports_dir / "run-1" / stages,
        ws.offline_dir / ".staging" / "0123456789ab" / "customer_profile" / "2025-01" / "bucket-0000.parquet",
        ws.offline_dir / ".staging" / "entities-20250101T000000-abcdef.parquet",
    ]
    _touch(*kept, *swept)
    lock = WorkspaceLock(ws, "propensity run")
    lock.acquire()
    lock.release()
    assert all(path.exists() for path in kept)
    assert not any(path.exists() for path in swept)
    assert not (ws.root / raw).exists()


def test_a_live_writers_staging_is_kept_until_it_dies(tmp_path: Path) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    writer, (staging,) = _names_of_a_process("raw", "staging")
    try:
        _touch(ws.root / staging / "orders" / "part-0.parquet")
        lock = WorkspaceLock(ws, "propensity labels")
        lock.acquire()
        lock.release()
        assert (ws.root / staging / "orders" / "part-0.parquet").exists()
    finally:
        writer.kill()
        writer.wait()
    lock.acquire()
    lock.release()
    assert not (ws.root / staging).exists()


def test_a_writer_removes_nothing_outside_its_own_directories(tmp_path: Path) -> None:
    """--workdir at a parent of other workspaces: a failing writer there leaves every file below it alone, dead
    owners' leftovers of the nested workspace included (they are that workspace's business)."""
    parent = tmp_path / "parent"
    child = Workspace.resolve(parent / "child")
    raw, month, export = _dead_names("raw", "staging", "2025-01", "retired", "out.csv", "tmp")
    others = [
        child.root / raw / "orders" / "part-0.parquet",
        child.offline_dir / "customer_rfm" / month / "bucket-0000.parquet",
        parent / "exports" / "deep" / "er" / export,
        parent / "offline" / "v" / "2025-01" / "more" / raw / "part-0.parquet",  # below the levels searched
        child.root / ".raw.staging-0123456789ab" / "orders" / "part-0.parquet",  # what older versions swept
    ]
    _touch(*others)
    result = CliRunner().invoke(app, ["features", "build", "--workdir", str(parent)])
    assert result.exit_code == 2 and "no raw tables" in result.output
    assert all(path.exists() for path in others)


KILLED_MID_REPLACE = """
import os, sys
from pathlib import Path
from propensity.storage import replace_directory
rename = Path.rename
def crash_on_the_second(self, target, calls=[]):
    calls.append(target)
    if len(calls) == 2:
        os._exit(9)  # killed after moving the published directory aside, before moving the new one in
    return rename(self, target)
Path.rename = crash_on_the_second
replace_directory(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def _kill_mid_replace(target: Path) -> None:
    """Replace ``target`` with a one-file directory in a process killed between the two renames."""
    staging = target.parent.parent / ".staging" / "killed"
    _touch(staging / "bucket-0000.parquet")
    assert subprocess.run([sys.executable, "-c", KILLED_MID_REPLACE, str(staging), str(target)]).returncode == 9
    assert not target.exists() and [p.name for p in target.parent.glob(f".{target.name}.retired-*")]


def test_a_replace_killed_between_its_renames_is_put_back_before_anything_runs(known: KnownWorkspace) -> None:
    ws = known.ws
    months = sorted(p for p in (ws.offline_dir / "toy").iterdir() if not p.name.startswith("."))
    files = {p: p.read_bytes() for p in (ws.offline_dir / "toy").rglob("*.parquet")}
    count = "SELECT count(*) AS n FROM toy"
    rows = WorkspaceViews(ws).query(count).fetchall()[0][0]

    _kill_mid_replace(months[0])  # a reader comes next: it puts the month back (no writer holds the lock)
    result = CliRunner().invoke(app, ["sql", count, "--workdir", str(ws.root), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == [{"n": rows}], result.output

    _kill_mid_replace(months[-1])  # a writer comes next: it puts the month back before it sweeps anything
    lock = WorkspaceLock(ws, "propensity features build")
    lock.acquire()
    lock.release()
    assert {p: p.read_bytes() for p in (ws.offline_dir / "toy").rglob("*.parquet")} == files
    assert not list((ws.offline_dir / "toy").glob(".*"))
