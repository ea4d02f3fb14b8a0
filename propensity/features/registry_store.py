"""Feast's file registry, written atomically and always naming the workspace it lives in.

Feast's ``FileRegistryStore`` rewrites ``registry.db`` in place, so a command killed while writing it (a
``feast materialize`` records its intervals after every view) leaves a truncated registry that no later command
can read. This store writes the new registry beside the old one and renames it into place: a reader sees the
old registry or the new one, never part of one. ``feature_repo/feature_store.yaml`` selects it with
``registry_store_type``.

The registry records absolute paths: the online store's tables (Feast's infra objects) and the offline datasets
(the sources). In a copied or moved workspace those name the original, so Feast would read the original's offline
store and, on the next apply, tear down the original's online tables as "removed infrastructure". This store
therefore re-points every path under the workspace the registry was applied for (``<root>/feast/registry.db``) to
the workspace it is read from, before Feast sees it: the copy then reads and writes only its own files.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from feast.infra.registry.file import FileRegistryStore
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.utils import _utc_now
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from propensity.storage import aside_name


class AtomicFileRegistryStore(FileRegistryStore):
    """A file registry whose every write is all or nothing (write aside, fsync, rename), read as belonging to the
    workspace that holds it."""

    def get_registry_proto(self) -> RegistryProto:
        registry_proto = super().get_registry_proto()
        home = self._filepath.parent.parent  # <root>/feast/registry.db
        recorded = recorded_root(registry_proto)
        if recorded is not None and recorded != home:
            repoint(registry_proto, recorded, home)
        return registry_proto

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


def recorded_root(registry: RegistryProto) -> Path | None:
    """The workspace root ``registry`` was applied for: that of its SQLite online store (``<root>/feast/...``),
    else of its local offline datasets (``<root>/offline/<view>``); None when it names neither."""
    for infra in registry.infra.infra_objects:
        if infra.HasField("sqlite_table") and os.path.isabs(infra.sqlite_table.path):
            return Path(infra.sqlite_table.path).parent.parent
    for source in registry.data_sources:
        if source.HasField("file_options") and os.path.isabs(source.file_options.uri):
            return Path(source.file_options.uri).parent.parent
    return None


def repoint(message: Message, old: Path, new: Path) -> None:
    """Rewrite, in place, every string of ``message`` (nested messages and maps included) that is ``old`` or a
    path under it to the same path under ``new``."""

    def moved(value: str) -> str:
        if value == str(old) or value.startswith(f"{old}/"):
            return f"{new}{value[len(str(old)) :]}"
        return value

    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                value[:] = [moved(v) for v in value]
            else:
                setattr(message, field.name, moved(value))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                entry_value = field.message_type.fields_by_name["value"]
                for key in list(value):
                    if entry_value.type == FieldDescriptor.TYPE_MESSAGE:
                        repoint(value[key], old, new)
                    elif entry_value.type == FieldDescriptor.TYPE_STRING:
                        value[key] = moved(value[key])
            elif field.is_repeated:
                for item in value:
                    repoint(item, old, new)
            else:
                repoint(value, old, new)
