"""The offline store of a workspace as one object: its layout, the commit of new data into it, and reading it.

Layout (the files of the feature builds are described in :mod:`propensity.features.pipeline`)::

    offline/<view>/                    a view's dataset: what the builds write (:meth:`OfflineStore.view_dir`)
    offline/<view>/schema.parquet      its columns and no rows, from the first build on (every view)
    offline/<view>/_manifest.json      its published months (:mod:`propensity.features.manifest`)
    offline/_layout.json               the bucket count, fixed at the first build
    offline/.staging/                  scratch of commits (never read, never mirrored)
    offline/.<name>.lock               locks of the writers

With ``$PROPENSITY_OFFLINE_URI`` Feast, the Ray workers and analysts read the object-store copy of the store
(:meth:`OfflineStore.view_location`), which :mod:`propensity.offline_mirror` keeps. Only this object calls it:
writers commit through :meth:`OfflineStore.commit`, which mirrors once the commit's parts are renamed into place,
and readers open the store with :meth:`OfflineStore.ready`, which mirrors first, so a crash between a commit and
its mirror heals at the next read. Without a URI both are no-ops on the object store.

This module imports no Arrow, DuckDB or Feast at load: readers of the layout stay light.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from propensity.config import Workspace

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_FILE = "schema.parquet"  # not hidden and no leading "_": readers that skip such files must read it
LAYOUT_FILE = "_layout.json"
STAGING_DIR = ".staging"
REBUILD = "rebuild the whole history with `propensity features build` (it rewrites every month)"


def month_of(day: date) -> str:
    """The name of the month directory that holds a view's snapshots of ``day``: ``YYYY-MM``."""
    return day.strftime("%Y-%m")


class OfflineStore:
    """The offline store of workspace ``ws``: one Parquet dataset per feature view under ``ws.offline_dir``,
    mirrored to ``ws.offline_uri`` when the workspace has one (see the module docstring)."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.root = ws.offline_dir
        self.scratch = self.root / STAGING_DIR

    def view_dir(self, view: str) -> Path:
        """The dataset of ``view`` in the workspace: the one commits write."""
        return self.root / view

    def view_location(self, view: str) -> str:
        """The dataset of ``view`` that Feast's FileSource names and readers read: its object-store copy when the
        workspace has an offline URI, else :meth:`view_dir`."""
        return f"{self.ws.offline_uri}/{view}" if self.ws.offline_uri else str(self.view_dir(view))

    def schema_file(self, view: str) -> Path:
        """The file holding ``view``'s columns and no rows."""
        return self.view_dir(view) / SCHEMA_FILE

    @property
    def layout_file(self) -> Path:
        """The store's layout (its bucket count), written by the first build."""
        return self.root / LAYOUT_FILE

    def lock_file(self, name: str) -> Path:
        """The file lock ``name`` of a writer (``build``, a view's publication), hidden from readers."""
        return self.root / f".{name}.lock"

    def check_views(self, views: Iterable[str]) -> None:
        """Refuse ``views`` when one of their files is damaged, or a published month or file is missing
        (:class:`propensity.storage.DamagedFileError`)."""
        from propensity.features.manifest import check_published
        from propensity.storage import check_parquet_files

        for view in views:
            check_published(self.view_dir(view), fix=REBUILD)
            check_parquet_files(self.view_dir(view), fix=REBUILD)

    def ready(self, views: Iterable[str] = ()) -> OfflineStore:
        """The store, ready to be read: ``views`` checked (:meth:`check_views`), then its object-store copy, when
        there is one, brought up to date with what is committed. Every reader opens the store with it."""
        self.check_views(views)
        self._mirror()
        return self

    @contextmanager
    def commit(self) -> Iterator[Commit]:
        """One commit: the block stages its output and renames it into place through the :class:`Commit`; when
        the block ends without error, the object-store copy is mirrored. A failed block mirrors nothing (what it
        renamed into place before failing goes up with the next commit or read)."""
        self.root.mkdir(parents=True, exist_ok=True)
        yield Commit(self)
        self._mirror()

    def _mirror(self) -> None:
        from propensity.offline_mirror import sync_offline

        sync_offline(self.ws)


class Commit:
    """The writes of one :meth:`OfflineStore.commit`: each staged aside, in ``offline/.staging``, and renamed into
    place whole, so a reader sees the old data or the new, never part of it."""

    def __init__(self, store: OfflineStore):
        self.store = store

    @contextmanager
    def months(self, views: Iterable[str], months: list[str]) -> Iterator[Path]:
        """A staging tree ``<view>/<month>/`` for each of ``views`` and ``months``; when the block ends without
        error each (view, month) directory, its file list recorded, replaces the published one in one rename and
        the view's list of published months grows. The tree is removed either way."""
        from propensity.features.manifest import record_month, record_months
        from propensity.storage import replace_directory

        views = list(views)
        staging = self.store.scratch / uuid.uuid4().hex[:12]
        try:
            for view in views:
                for month in months:
                    (staging / view / month).mkdir(parents=True)
            yield staging
            for view in views:
                for month in months:
                    record_month(staging / view / month)
                    replace_directory(staging / view / month, self.store.view_dir(view) / month)
                record_months(self.store.view_dir(view), months)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @contextmanager
    def directory(self, target: Path) -> Iterator[Path]:
        """An empty staging directory that replaces ``target`` (a directory of the store) in one rename when the
        block ends without error; on error it is removed and ``target`` stays as it was."""
        from propensity.storage import staged_directory

        with staged_directory(target, overwrite=True, scratch=self.store.scratch) as staging:
            yield staging

    def schema_files(self, schemas: Mapping[str, pa.Schema]) -> None:
        """Give each view of ``schemas`` its schema file, written atomically; one that already holds the view's
        schema is left as it is."""
        from propensity.storage import write_parquet

        for view, schema in schemas.items():
            path = self.store.schema_file(view)
            if not _holds_schema(path, schema):
                write_parquet(schema.empty_table(), path)


def _holds_schema(path: Path, schema: pa.Schema) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).equals(schema)
    except (OSError, pa.ArrowException):  # missing or damaged: written again
        return False
