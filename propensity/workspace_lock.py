"""One writer at a time per workspace.

Every command that writes into a workspace holds its lock (``<workspace>/.lock``, an OS file lock, so a crashed
process never keeps it) for its whole run; a second writer is refused at once with a message naming the holder.
Readers (``sql``, ``report``, ``features check``, ``models list``) take no lock: every write is committed by a
rename, so they see each dataset before or after a commit, never half of one.

The holder first puts back what a writer killed between the two renames of a directory replace left aside (a
``.<name>.retired-...`` directory whose ``<name>`` is missing): the published data returns before anything
else runs. A reader does the same when it finds such a directory and no writer holds the lock
(:func:`recover_if_idle`). Then the holder sweeps what crashed writers left behind (staging directories,
retired directories and temporary files, invisible to readers but taking disk), and only what it can prove is
such a leftover of this workspace: entries of the workspace's own directories (its top level, and three levels
of ``raw``, ``offline``, ``feast``, ``labels``, ``training_sets``, ``models`` and ``reports``; never anything
else below ``--workdir``, such as a workspace nested in it) whose name records an owner process (host, pid,
start time) that has ended. ``offline/.staging`` is written only under the lock, so the holder empties it, but
for a staged scoring date whose online push had begun (a ``.pushing`` marker): the score store needs it to put
the committed scores back online.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from propensity.config import Workspace
from propensity.errors import ConflictError
from propensity.storage import Aside, atomic_file, parse_aside

LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.json"
PUSHING = ".pushing"  # the score store's marker of a staged date whose online push began
SCAN_DEPTH = 2  # levels searched below each of the workspace's own directories (aside names sit beside targets)


class WorkspaceBusyError(ConflictError):
    """Another process is writing to the workspace."""


class WorkspaceLock:
    """The exclusive right to write into ``ws``, for ``command`` (shown to whoever is refused)."""

    def __init__(self, ws: Workspace, command: str):
        self.ws = ws
        self.command = command
        self._lock = FileLock(str(ws.root / LOCK_FILE), timeout=0)

    def acquire(self) -> None:
        """Take the lock (or raise :class:`WorkspaceBusyError` at once), record the holder and sweep leftovers."""
        self.ws.root.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise WorkspaceBusyError(self._busy_message()) from None
        holder = {"pid": os.getpid(), "command": self.command, "since": datetime.now(UTC).isoformat("T", "seconds")}
        with atomic_file(self.ws.root / HOLDER_FILE) as sink:
            sink.write(json.dumps(holder).encode())
        restore_retired(self.ws)
        sweep_leftovers(self.ws)

    def release(self) -> None:
        """Give the lock up (a no-op when not held)."""
        if self._lock.is_locked:
            (self.ws.root / HOLDER_FILE).unlink(missing_ok=True)
            self._lock.release()

    def _busy_message(self) -> str:
        try:
            holder = json.loads((self.ws.root / HOLDER_FILE).read_text())
            who = f"`{holder['command']}` (pid {holder['pid']}, since {holder['since']})"
        except (OSError, ValueError, KeyError):
            who = "another propensity command"
        return (
            f"the workspace {self.ws.root} is in use by {who}; wait for it to finish, or use another `workdir` "
            f"(only one command writes to a workspace at a time)"
        )


def recover_if_idle(ws: Workspace) -> list[Path]:
    """For a reader: put back what a killed writer left retired (:func:`restore_retired`) when there is any and
    no writer holds the lock (a holder did so when it took it); returns what was put back."""
    if not any(_interrupted(path, aside) for path, aside in _asides(ws)):
        return []
    lock = FileLock(str(ws.root / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except (Timeout, OSError):
        return []
    try:
        return restore_retired(ws)
    finally:
        lock.release()


def restore_retired(ws: Workspace) -> list[Path]:
    """Rename each retired directory whose published one is missing back into place (call under the lock): its
    writer died between moving the published data aside and moving the new data in. Returns what came back."""
    restored = []
    for path, aside in _asides(ws):
        if _interrupted(path, aside):
            path.rename(path.parent / aside.target)
            restored.append(path.parent / aside.target)
    return restored


def sweep_leftovers(ws: Workspace) -> list[Path]:
    """Remove what crashed writers left in ``ws`` (call only while holding its lock); returns what went."""
    removed = []
    for path, aside in _asides(ws):
        if aside.owner_gone() and not path.with_name(f"{path.name}{PUSHING}").exists():
            _remove(path)
            removed.append(path)
    scratch = ws.offline_dir / ".staging"  # the staging area of feature builds and scoring runs
    if scratch.is_dir():
        for entry in scratch.iterdir():
            aside = parse_aside(entry.name)
            if aside is not None and aside.owner is not None and not aside.owner_gone():
                continue  # its owner still runs
            if not entry.name.endswith(PUSHING) and not (scratch / f"{entry.name}{PUSHING}").exists():
                _remove(entry)
                removed.append(entry)
    return removed


def _interrupted(path: Path, aside: Aside) -> bool:
    return aside.kind == "retired" and path.is_dir() and not (path.parent / aside.target).exists()


def _asides(ws: Workspace) -> Iterator[tuple[Path, Aside]]:
    """Every staging, retired or temporary name in the workspace's own directories (see the module docstring)."""
    own = (ws.raw_dir, ws.offline_dir, ws.feast_dir, ws.labels_dir, ws.training_sets_dir, ws.models_dir, ws.reports_dir)
    for path in [*_entries(ws.root, 0), *(entry for top in own for entry in _entries(top, SCAN_DEPTH))]:
        if (aside := parse_aside(path.name)) is not None:
            yield path, aside


def _entries(directory: Path, depth: int) -> Iterator[Path]:
    """The entries of ``directory`` and, ``depth`` levels down, of its subdirectories (not of symbolic links,
    hidden directories or aside ones)."""
    try:
        children = sorted(directory.iterdir())
    except OSError:  # missing, not a directory, unreadable: nothing of ours
        return
    for child in children:
        yield child
        if depth and not child.name.startswith(".") and child.is_dir() and not child.is_symlink():
            yield from _entries(child, depth - 1)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
