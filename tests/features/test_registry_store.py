"""Feast's registry is written whole or not at all (``AtomicFileRegistryStore``, selected in
``feature_repo/feature_store.yaml``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.repo_config import RegistryConfig, load_repo_config

from propensity.config import Workspace
from propensity.features.registry_store import AtomicFileRegistryStore


def _store(path: Path) -> AtomicFileRegistryStore:
    return AtomicFileRegistryStore(RegistryConfig(path=str(path)), path.parent)


def test_a_write_that_fails_half_way_leaves_the_old_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path / "registry.db")
    old = RegistryProto()
    old.project_metadata.add(project="old")
    store.update_registry_proto(old)
    new = RegistryProto()
    new.project_metadata.add(project="new")

    def crash(_: int) -> None:
        raise OSError("killed while writing")

    monkeypatch.setattr(os, "fsync", crash)  # the new registry is written aside, then this fails
    with pytest.raises(OSError, match="killed while writing"):
        store.update_registry_proto(new)
    assert [m.project for m in store.get_registry_proto().project_metadata] == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["registry.db"]  # nothing left aside
    monkeypatch.undo()
    store.update_registry_proto(new)
    assert [m.project for m in store.get_registry_proto().project_metadata] == ["new"]


@pytest.mark.parametrize("config", ["feature_store.yaml", "feature_store.redis.yaml"])
def test_the_feature_repo_uses_the_atomic_store(config: str, tmp_path: Path) -> None:
    repo = Workspace.resolve(tmp_path).activate().feature_repo
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "feature_store.yaml").write_text((repo / config).read_text())
    loaded = load_repo_config(tmp_path / "repo", tmp_path / "repo" / "feature_store.yaml")
    assert loaded.registry.registry_store_type == "propensity.features.registry_store.AtomicFileRegistryStore"
