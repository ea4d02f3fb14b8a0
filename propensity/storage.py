"""Atomic writes: everything is written aside and moved into place in one rename."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from propensity.errors import ConflictError, DamagedDataError

PARQUET_MAGIC = b"PAR1"  # the first and last four bytes of every Parquet file


AsideKind = Literal["staging", "retired", "tmp"]
# .<target>.<kind>-<host>-<pid>-<process start>-<random>; names without the owner part come from older versions
_ASIDE = re.compile(
    r"^\.(?P<target>.+)\.(?P<kind>staging|retired|tmp)-"
    r"(?:(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-(?P<start>[0-9]+)-)?[0-9a-f]{12}$"
)


@dataclass(frozen=True)
class Aside:
    """What a hidden staging, retired or temporary name says: the name it stands beside and who made it."""

    target: str
    kind: AsideKind
    owner: tuple[str, int, int] | None  # (host hash, pid, process start in whole seconds); None: unknown

    def owner_gone(self) -> bool:
        """True only when the process that made it has provably ended (same host, and that pid is not running
        or is another process since); False for a live owner, another host's, or an unknown one."""
        if self.owner is None or self.owner[0] != _host():
            return False
        _, pid, start = self.owner
        try:
            return abs(round(psutil.Process(pid).create_time()) - start) > 1
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:
            return False


def aside_name(target: str, kind: AsideKind) -> str:
    """A hidden name to write ``target`` aside under (``.<target>.<kind>-<owner>-<random>``), naming this
    process as its owner so that a sweeper can tell a crashed writer's leftover from a live one."""
    return f".{target}.{kind}-{_owner()}-{uuid.uuid4().hex[:12]}"


def parse_aside(name: str) -> Aside | None:
    """The :class:`Aside` a file name describes, or None when it is not a staging/retired/temporary name."""
    found = _ASIDE.match(name)
    if found is None:
        return None
    owner = (found["host"], int(found["pid"]), int(found["start"])) if found["host"] else None
    return Aside(found["target"], found["kind"], owner)  # type: ignore[arg-type]


@cache
def _host() -> str:
    return hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()


def _owner() -> str:
    pid = os.getpid()  # per call: a forked worker is an owner of its own
    return f"{_host()}-{pid}-{_start_time(pid)}"


@cache
def _start_time(pid: int) -> int:
    return round(psutil.Process(pid).create_time())


class OutputExistsError(ConflictError, FileExistsError):
    """The output holds data and the caller did not ask to overwrite it."""


def is_nonempty_dir(path: Path) -> bool:
    """True when ``path`` exists and is not an empty directory."""
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def ensure_writable(target: Path, *, overwrite: bool, hint: str = "pass `overwrite`") -> None:
    """Refuse, before any work starts, to write into a non-empty ``target`` unless ``overwrite``."""
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"{target} is not a directory (a file, device or pipe); give a directory path")
    if is_nonempty_dir(target) and not overwrite:
        raise OutputExistsError(f"{target} already holds data; {hint} to replace it")


@contextmanager
def staged_directory(target: Path, *, overwrite: bool, scratch: Path | None = None) -> Iterator[Path]:
    """Yield an empty staging directory; on success it replaces ``target`` in one rename.

    The staging directory lives in ``scratch`` (default: beside ``target``; it must be on the same file
    system). On any error it is removed and ``target`` is left exactly as it was. An existing ``target`` is
    only replaced when ``overwrite`` is true (checked before the caller does any work).
    """
    ensure_writable(target, overwrite=overwrite)
    scratch = scratch or target.parent
    scratch.mkdir(parents=True, exist_ok=True)
    staging = scratch / aside_name(target.name, "staging")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_directory(staging, target)


def replace_directory(source: Path, target: Path) -> None:
    """Move directory ``source`` to ``target``, replacing any existing ``target`` (old data is dropped last).

    The old ``target`` is first renamed aside, beside itself (``.<name>.retired-...``); should the process die
    before ``source`` takes its place, the next command renames it back (``workspace_lock.restore_retired``), and
    a failed second rename puts it back at once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    retired = target.parent / aside_name(target.name, "retired")
    if target.exists():
        target.rename(retired)
    try:
        source.rename(target)
    except BaseException:
        if retired.exists() and not target.exists():
            retired.rename(target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def link_file(source: Path, target: Path) -> None:
    """Make ``target`` the same file as ``source``: a hard link (no bytes copied), or a copy where the file
    system has no hard links. Only for files never changed in place (the offline store's are replaced whole)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def sql_path(path: Path) -> str:
    """``path`` as the body of a DuckDB string literal (quotes doubled)."""
    return str(path).replace("'", "''")


def sql_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file written aside and renamed onto ``path`` only when the block completes (else removed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / aside_name(path.name, "tmp")
    try:
        with tmp.open("wb") as sink:
            yield sink
        tmp.rename(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically, with timestamps in microseconds (what Feast's DuckDB reads)."""
    with atomic_file(path) as sink:
        pq.write_table(table, sink, coerce_timestamps="us", compression="zstd")


def write_parquet_batches(batches: pa.RecordBatchReader, path: Path) -> int:
    """Write ``batches`` to ``path`` atomically as they come, a row group per batch (never the whole table in
    memory), timestamps in microseconds; returns the rows written."""
    rows = 0
    with (
        atomic_file(path) as sink,
        pq.ParquetWriter(sink, batches.schema, coerce_timestamps="us", compression="zstd") as writer,
    ):
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


class SortedParquetWriter:
    """A Parquet file of a table sorted by ``group_by``, written atomically from parts given in order (a context
    manager: the file appears when the block completes, and not at all after an error or without rows).

    Row groups hold at most ``row_group_size`` rows and also end where ``group_by`` changes value once they hold
    ``min_group_rows``, so readers filtering on it skip whole groups; timestamps are written in microseconds. Only
    the rows of the current group are held in memory.
    """

    def __init__(self, path: Path, *, group_by: str, row_group_size: int, min_group_rows: int = 0):
        self.path, self.group_by = path, group_by
        self.row_group_size, self.min_group_rows = row_group_size, min_group_rows
        self.rows = 0  # written so far
        self._pending: list[pa.Table] = []
        self._last: object = None  # the value of group_by in the last row written
        self._files = ExitStack()
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> SortedParquetWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        if kind is None:
            with self._files:  # the file is renamed into place once its last group is written
                self._flush()
        else:
            self._files.__exit__(kind, error, trace)  # the file is left aside, where atomic_file removes it

    def write(self, part: pa.Table) -> None:
        """Add ``part``: rows sorted by ``group_by``, none before the rows written so far."""
        for run in _runs(part, self.group_by):
            value = run.column(self.group_by)[0].as_py()
            if value != self._last and sum(t.num_rows for t in self._pending) >= self.min_group_rows:
                self._flush()
            self._pending.append(run)
            self._last = value

    def _flush(self) -> None:
        group = pa.concat_tables(self._pending).combine_chunks() if self._pending else None
        self._pending = []
        if group is None or group.num_rows == 0:
            return
        if self._writer is None:
            sink = self._files.enter_context(atomic_file(self.path))
            self._writer = self._files.enter_context(
                pq.ParquetWriter(sink, group.schema, coerce_timestamps="us", compression="zstd")
            )
        self._writer.write_table(group, row_group_size=self.row_group_size)
        self.rows += group.num_rows


def _runs(table: pa.Table, column: str) -> list[pa.Table]:
    """``table`` cut where ``column`` changes value (zero-copy slices, in order)."""
    values = table.column(column)
    if table.num_rows == 0:
        return []
    after, before = values.slice(1), values.slice(0, len(values) - 1)
    both_null = pc.and_(pc.is_null(after), pc.is_null(before))
    changed = pc.and_not(pc.not_equal(after, before).fill_null(True), both_null)
    cuts = [0, *(np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1).tolist(), table.num_rows]
    return [table.slice(start, end - start) for start, end in itertools.pairwise(cuts)]


def parquet_shape(path: Path) -> tuple[int, int]:
    """Rows and columns of the Parquet file or directory ``path``, from the files' footers."""
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    footers = [pq.read_metadata(f) for f in files]
    return sum(f.num_rows for f in footers), footers[0].num_columns if footers else 0


class DamagedFileError(DamagedDataError):
    """A Parquet file is truncated or is not Parquet at all."""


def check_parquet_files(path: Path, *, fix: str) -> int:
    """Refuse a damaged Parquet file under ``path`` (a file or a directory, searched recursively): each must
    start and end with Parquet's magic bytes and have room for its footer (a few bytes read per file, so it is
    cheap on thousands of files). ``fix`` says what to do; returns the files checked."""
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    for file in files:
        size = file.stat().st_size
        with file.open("rb") as handle:
            head = handle.read(4)
            handle.seek(max(0, size - 8))
            tail = handle.read(8)
        footer = int.from_bytes(tail[:4], "little") if len(tail) == 8 else size
        if head != PARQUET_MAGIC or tail[4:] != PARQUET_MAGIC or footer + 12 > size:
            raise DamagedFileError(f"{file} is damaged (truncated, or not a Parquet file): {fix}")
    return len(files)
