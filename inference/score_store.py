"""Where scores live: one Parquet directory per scoring date under the offline store's ``customer_propensity/``
(what the Feast view reads), and the latest date's rows in the online store.

A date is published in three steps under a workspace-wide file lock, so two runs never interleave: the scores
are written to a staging directory outside the view's directory (invisible to Feast); pushed online through
Feast's push source when the date is the latest scored; then renamed into place, replacing any earlier scores
of that date whole. If the online push fails part-way, the customers it reached get their previous scores back
(or nulls, when they had none) and the staging directory is dropped: neither store shows the failed run. A run
killed between the start of its push and the rename leaves a marker beside its staging directory; the next
publication of the workspace first puts those customers' committed scores back online (:meth:`ScoreStore.recover`).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow.dataset as pads
from feast import FeatureStore
from feast.data_source import PushMode
from filelock import FileLock, Timeout

from propensity import duck
from propensity.config import Workspace
from propensity.errors import ConflictError
from propensity.features.definitions import SCORES_PUSH_SOURCE
from propensity.features.offline_store import OfflineStore
from propensity.features.schemas import SCORES_VIEW
from propensity.storage import sql_path
from propensity.workspace_lock import PUSHING

PUSH_ROWS = 50_000  # rows per Feast push call (bounds memory; each call costs about 0.7 s of overhead)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ScoresLockedError(ConflictError):
    """Another scoring run holds the workspace's scores lock."""


class ScoreStore:
    """The scores of one workspace, offline and online."""

    def __init__(self, ws: Workspace, store: FeatureStore):
        self.ws = ws
        self.offline = OfflineStore(ws)
        self.root = self.offline.view_dir(SCORES_VIEW)
        self.scratch = self.offline.scratch
        self.lock_path = self.offline.lock_file(SCORES_VIEW)
        self.store = store

    def dates(self) -> list[date]:
        """The scoring dates published offline, in order."""
        if not self.root.is_dir():
            return []
        return sorted(date.fromisoformat(p.name) for p in self.root.iterdir() if _DATE.match(p.name))

    def path(self, day: date) -> Path:
        """The directory of ``day``'s scores."""
        return self.root / day.isoformat()

    def lock(self, timeout: float) -> FileLock:
        """The lock every publication holds; waiting longer than ``timeout`` seconds is an error."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.lock_path), timeout=timeout)

    def publish(self, day: date, write: Callable[[Path], int], *, timeout: float = 600) -> tuple[int, bool]:
        """Publish ``day``'s scores, which ``write(directory)`` writes as Parquet (returning their rows); returns
        the rows and whether they went online (only the latest date does)."""
        try:
            with self.lock(timeout):
                self.recover()
                with self.offline.commit() as commit:
                    with commit.directory(self.path(day)) as staging:
                        rows = write(staging)
                        latest = max(self.dates(), default=None)  # still the committed scores, even of ``day``
                        online = latest is None or day >= latest
                        if online:
                            self._marker(staging).touch()
                            self._push_or_restore(staging, latest)
                    self._marker(staging).unlink(missing_ok=True)
                return rows, online
        except Timeout:
            raise ScoresLockedError(
                f"another scoring run has held {self.lock_path} for over {timeout:.0f} s; wait for it to finish "
                "(the lock is released the moment its process exits, so a crashed run never holds it)"
            ) from None

    def recover(self) -> None:
        """Undo what a run killed mid-publication left (call under the lock): a staged date whose push had begun
        gets its customers' committed online scores back; staging directories are dropped."""
        if not self.scratch.is_dir():
            return
        latest = max(self.dates(), default=None)
        for marker in self.scratch.glob(f"*{PUSHING}"):
            staging = self.scratch / marker.name.removesuffix(PUSHING)
            if staging.is_dir():  # the push began and the rename did not happen
                self.restore_online(staging, latest)
            marker.unlink()
        for leftover in self.scratch.glob(".*.staging-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def push_online(self, directory: Path) -> int:
        """Push the scores in ``directory`` to the online store through Feast's push source; returns the rows."""
        rows = 0
        for batch in pads.dataset(directory, format="parquet").to_batches(batch_size=PUSH_ROWS):
            if batch.num_rows:
                self.store.push(SCORES_PUSH_SOURCE, batch.to_pandas(), to=PushMode.ONLINE)
                rows += batch.num_rows
        return rows

    def _push_or_restore(self, staging: Path, previous: date | None) -> None:
        """Push ``staging`` online; if that fails, give the customers in it their ``previous`` scores back."""
        try:
            self.push_online(staging)
        except BaseException:
            self.restore_online(staging, previous)
            self._marker(staging).unlink()
            raise

    def _marker(self, staging: Path) -> Path:
        """The file that says ``staging``'s online push has begun (kept until the date is committed)."""
        return self.scratch / f"{staging.name}{PUSHING}"

    def restore_online(self, staging: Path, previous: date | None) -> None:
        """Put the online rows of the customers in ``staging`` back as they were: their committed scores of
        ``previous`` (the latest published date), or nulls at ``staging``'s date when they had none."""
        restored = self.scratch / f"{staging.name}.restore"
        con = duck.connect()
        new = f"read_parquet('{sql_path(staging)}/*.parquet')"
        old = f"read_parquet('{sql_path(self.path(previous))}/*.parquet')" if previous else f"(FROM {new} LIMIT 0)"
        restored.mkdir(parents=True, exist_ok=True)
        try:
            con.execute(
                f"""COPY (
                    SELECT n.customer_id, coalesce(o.event_timestamp, n.event_timestamp) AS event_timestamp,
                           coalesce(o.created_at, n.created_at) AS created_at,
                           o.* EXCLUDE (customer_id, event_timestamp, created_at)
                    FROM (SELECT customer_id, event_timestamp, created_at FROM {new}) n
                    LEFT JOIN {old} o ON o.customer_id = n.customer_id
                ) TO '{sql_path(restored)}/part.parquet' (FORMAT parquet)"""
            )
            self.push_online(restored)
        finally:
            shutil.rmtree(restored, ignore_errors=True)
