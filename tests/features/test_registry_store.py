"""Feast's registry is written whole or not at all (``AtomicFileRegistryStore``, selected in
``feature_repo/feature_store.yaml``)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from feast import FeatureStore
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.repo_config import RegistryConfig, load_repo_config
from typer.testing import CliRunner

from propensity.cli import app
from propensity.config import Workspace
from propensity.features.registry_store import AtomicFileRegistryStore, recorded_root
from tests.support.workspaces import copy_workspace


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


def _online_tables(ws: Workspace) -> set[str]:
    with closing(sqlite3.connect(ws.feast_dir / "online_store.db")) as con:
        return {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_copied_workspace_uses_its_own_files_and_leaves_the_original_alone(
    small_workspace: Workspace, tmp_path: Path
) -> None:
    original = copy_workspace(small_workspace, tmp_path / "ws1")
    tables = _online_tables(original)
    assert tables
    shutil.copytree(original.root, tmp_path / "ws2", symlinks=True)  # cp -a
    copy = Workspace.resolve(tmp_path / "ws2").activate()

    store = FeatureStore(repo_path=str(copy.feature_repo))  # what training-set and score read
    sources = {view.name: view.batch_source.path for view in store.list_feature_views()}
    assert sources and all(Path(path).is_relative_to(copy.root) for path in sources.values()), sources

    result = CliRunner().invoke(app, ["features", "apply", "--workdir", str(copy.root)])
    assert result.exit_code == 0, result.output
    assert _online_tables(original) == tables  # the original's online store is untouched
    assert _online_tables(copy) == tables
    on_disk = RegistryProto.FromString((copy.feast_dir / "registry.db").read_bytes())
    assert recorded_root(on_disk) == copy.root
    live = (on_disk.infra, *on_disk.data_sources, *on_disk.feature_views)  # not the history of past versions
    assert not [str(item) for item in live if str(original.root) in str(item)]
    assert recorded_root(RegistryProto.FromString((original.feast_dir / "registry.db").read_bytes())) == original.root
