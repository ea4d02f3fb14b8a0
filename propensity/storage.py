"""Atomic writes: everything is written aside and moved into place in one rename."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class OutputExistsError(FileExistsError):
    """The output holds data and the caller did not ask to overwrite it."""


def is_nonempty_dir(path: Path) -> bool:
    """True when ``path`` exists and is not an empty directory."""
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def ensure_writable(target: Path, *, overwrite: bool, hint: str = "pass --overwrite") -> None:
    """Refuse, before any work starts, to write into a non-empty ``target`` unless ``overwrite``."""
    if is_nonempty_dir(target) and not overwrite:
        raise OutputExistsError(f"{target} already holds data; {hint} to replace it")


@contextmanager
def staged_directory(target: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield an empty staging directory beside ``target``; on success it replaces ``target`` atomically.

    On any error the staging directory is removed and ``target`` is left exactly as it was. An existing
    ``target`` is only replaced when ``overwrite`` is true (checked before the caller does any work).
    """
    ensure_writable(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    staging = target.parent / f".{target.name}.staging-{token}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = target.parent / f".{target.name}.retired-{token}"
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically, with timestamps in microseconds (what Feast's DuckDB reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        pq.write_table(table, tmp, coerce_timestamps="us", compression="zstd")
        tmp.rename(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
