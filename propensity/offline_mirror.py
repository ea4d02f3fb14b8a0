"""The object-store copy of the offline store: what is committed in the workspace's ``offline/`` is mirrored to
``$PROPENSITY_OFFLINE_URI`` (``Workspace.offline_uri``), where Feast, the Ray workers and analysts read it.

An object store has no rename, so a directory cannot be swapped in one step as it is in the workspace. A sync is
ordered so that a reader never misses a snapshot row: first the files under names the store does not hold yet,
then the files replaced under their old names, then the deletion of files gone from the workspace. An object
appears whole when its upload completes, so a reader sees the old object or the new one, never part of one, and a
file is read whole before its upload starts, so a failed upload publishes nothing. While a sync runs, a reader can see
some buckets of a rebuilt month at the new build and others at the old one, and a rebuilt date's rows twice: the
point-in-time joins (Feast's, ours) keep the row of the latest created timestamp, which is the new one.

The manifest ``_mirror.json`` records each file's size and modification time as uploaded, and is written
last. A sync that died is redone by the next one, which uploads what the manifest does not vouch for. Every
writer syncs after its commit and every reader before it reads, so a crash between the two heals itself: both go
through :class:`propensity.features.offline_store.OfflineStore`, the only caller of :func:`sync_offline`.
Hidden files and directories (staging, locks) are never mirrored. One sync runs at a time per workspace.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs
from filelock import FileLock

from propensity.config import Workspace

MANIFEST = "_mirror.json"
UPLOAD_THREADS = 8

Signature = tuple[int, int]  # size, mtime in ns: a file written again changes it; a copy keeping mtimes does not


@dataclass(frozen=True)
class SyncPlan:
    """What a sync does, in this order."""

    added: list[str]  # names the object store does not hold
    replaced: list[str]  # names it holds, at another version
    deleted: list[str]  # names no longer in the workspace


@dataclass(frozen=True)
class SyncReport:
    """What a sync did."""

    uploaded: int
    deleted: int
    unchanged: int
    bytes: int


def local_files(offline_dir: Path) -> dict[str, Signature]:
    """Every file under ``offline_dir`` outside hidden files and directories, by relative POSIX path."""
    found: dict[str, Signature] = {}
    for directory, subdirs, files in os.walk(offline_dir):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            path = Path(directory, name)
            try:
                stat = path.stat()
            except FileNotFoundError:  # replaced by a commit meanwhile: the next sync takes it
                continue
            found[path.relative_to(offline_dir).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found


def plan_sync(local: dict[str, Signature], uploaded: dict[str, Signature], remote: set[str]) -> SyncPlan:
    """The steps taking the object store (holding ``remote``, of which ``uploaded`` records the versions) to
    ``local``."""
    return SyncPlan(
        added=sorted(set(local) - remote),
        replaced=sorted(name for name in set(local) & remote if uploaded.get(name) != local[name]),
        deleted=sorted(remote - set(local)),
    )


def sync_offline(ws: Workspace) -> SyncReport | None:
    """Mirror the workspace's offline store to its object store (see the module docstring); ``None`` when the
    workspace has none. Idempotent: a sync with nothing new uploads nothing."""
    if not ws.offline_uri or not ws.offline_dir.is_dir():
        return None
    fs, root = pafs.FileSystem.from_uri(ws.offline_uri)
    with FileLock(ws.offline_dir / ".mirror.lock"):
        remote = _remote_files(fs, root)
        uploaded = _read_manifest(fs, root) if MANIFEST in remote else {}
        remote.discard(MANIFEST)
        local = local_files(ws.offline_dir)
        plan = plan_sync(local, uploaded, remote)
        pending = {*plan.added, *plan.replaced}
        done = {name: signature for name, signature in local.items() if name not in pending}
        sent = 0
        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            for phase in (plan.added, plan.replaced):  # every upload of a phase ends before the next phase starts
                sizes = pool.map(lambda name: _upload(ws.offline_dir, fs, root, name), phase)
                for name, size in zip(phase, sizes, strict=True):
                    if size is not None:
                        done[name], sent = local[name], sent + size
            list(pool.map(lambda name: fs.delete_file(f"{root}/{name}"), plan.deleted))
        with fs.open_output_stream(f"{root}/{MANIFEST}") as sink:
            sink.write(json.dumps(done, sort_keys=True).encode())
    return SyncReport(uploaded=len(pending), deleted=len(plan.deleted), unchanged=len(local) - len(pending), bytes=sent)


def _remote_files(fs: pafs.FileSystem, root: str) -> set[str]:
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    return {info.path[len(root) + 1 :] for info in infos if info.type == pafs.FileType.File}


def _read_manifest(fs: pafs.FileSystem, root: str) -> dict[str, Signature]:
    with fs.open_input_stream(f"{root}/{MANIFEST}") as source:
        return {name: tuple(signature) for name, signature in json.loads(source.read()).items()}


def _upload(offline_dir: Path, fs: pafs.FileSystem, root: str, name: str) -> int | None:
    """Copy one file up; its size, or ``None`` when it vanished meanwhile. The file is read whole before the
    object is opened: closing an object stream publishes what it holds, so nothing may fail halfway into it."""
    try:
        data = (offline_dir / name).read_bytes()
    except FileNotFoundError:
        return None
    with fs.open_output_stream(f"{root}/{name}") as sink:
        sink.write(data)
    return len(data)
