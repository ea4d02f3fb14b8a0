"""Feast's file registry, written atomically.

Feast's ``FileRegistryStore`` rewrites ``registry.db`` in place, so a command killed while writing it (a
``feast materialize`` records its intervals after every view) leaves a truncated registry that no later command
can read. This store writes the new registry beside the old one and renames it into place: a reader sees the
old registry or the new one, never part of one. ``feature_repo/feature_store.yaml`` selects it with
``registry_store_type``.
"""

from __future__ import annotations

import os
import uuid

from feast.infra.registry.file import FileRegistryStore
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.utils import _utc_now

from propensity.storage import aside_name


class AtomicFileRegistryStore(FileRegistryStore):
    """A file registry whose every write is all or nothing (write aside, fsync, rename)."""

    def _write_registry(self, registry_proto: RegistryProto) -> None:
        registry_proto.version_id = str(uuid.uuid4())
        registry_proto.last_updated.FromDatetime(_utc_now())
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        staged = self._filepath.with_name(aside_name(self._filepath.name, "tmp"))
        try:
            with open(staged, "wb") as sink:
                sink.write(registry_proto.SerializeToString())
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(staged, self._filepath)
        finally:
            staged.unlink(missing_ok=True)
