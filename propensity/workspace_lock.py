"""One writer at a time per workspace.

Every command that writes into a workspace holds its lock (``<workspace>/.lock``, an OS file lock, so a crashed
process never keeps it) for its whole run; a second writer is refused at once with a message naming the holder.
Readers (``sql``, ``report``, ``features check``, ``models list``) take no lock: every write is committed by a
rename, so they see each dataset before or after a commit, never half of one.

The holder also sweeps what crashed writers left behind: staging directories, retired directories and
temporary files, all of them invisible to readers but taking disk. A staged scoring date whose online push had
begun (it has a ``.pushing`` marker) is left to the score store, which puts the committed scores back online.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from propensity.config import Workspace
from propensity.storage import atomic_file

LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.json"
PUSHING = ".pushing"  # the score store's marker of a staged date whose online push began
_LEFTOVER = re.compile(r"^\..+\.(staging|retired|tmp)-[0-9a-f]{12}$")


class WorkspaceBusyError(RuntimeError):
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
            f"the workspace {self.ws.root} is in use by {who}; wait for it to finish, or use another --workdir "
            f"(only one command writes to a workspace at a time)"
        )


def sweep_leftovers(ws: Workspace) -> list[Path]:
    """Remove what crashed writers left in ``ws`` (call only while holding its lock); returns what went."""
    removed = []
    scratch = ws.offline_dir / ".staging"  # the staging area of feature builds and scoring runs
    for parent, dirs, files in os.walk(ws.root):
        here = Path(parent)
        if here == scratch:
            dirs.clear()
            continue
        for name in [*dirs, *files]:
            if _LEFTOVER.match(name) and not (here / f"{name}{PUSHING}").exists():
                _remove(here / name)
                removed.append(here / name)
        dirs[:] = [d for d in dirs if not _LEFTOVER.match(d)]
    if scratch.is_dir():
        for entry in scratch.iterdir():
            if not entry.name.endswith(PUSHING) and not (scratch / f"{entry.name}{PUSHING}").exists():
                _remove(entry)
                removed.append(entry)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
