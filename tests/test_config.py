"""The workspace: how it is chosen, and that Feast's own CLI honours it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from propensity.config import WORKDIR_ENV, Workspace, project_root
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic

REPO = Path(__file__).resolve().parents[1]


def test_an_explicit_workdir_wins_over_the_environment(tmp_path: Path) -> None:
    assert Workspace.resolve(tmp_path / "explicit").root == (tmp_path / "explicit").resolve()


def test_the_environment_names_the_workspace(isolated_workspace: Path) -> None:
    assert Workspace.resolve().root == isolated_workspace.resolve()


def test_default_is_data_at_the_project_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(WORKDIR_ENV)
    monkeypatch.chdir(REPO / "feature_repo")
    assert project_root() == REPO
    assert Workspace.resolve().root == REPO / "data"


def test_paths_live_under_the_root(tmp_path: Path) -> None:
    ws = Workspace.resolve(tmp_path)
    for path in (ws.raw_dir, ws.offline_dir, ws.feast_dir, ws.models_dir, ws.reports_dir):
        assert path.parent == ws.root
    assert (ws.feature_repo / "feature_store.yaml").is_file()


def test_activate_exports_the_workspace(tmp_path: Path) -> None:
    Workspace.resolve(tmp_path / "w").activate()
    assert os.environ[WORKDIR_ENV] == str((tmp_path / "w").resolve())


def test_feast_cli_in_feature_repo_uses_the_workspace(tmp_path: Path) -> None:
    """Feast's own CLI, run inside feature_repo/, writes its registry into $PROPENSITY_WORKDIR only."""
    feast = shutil.which("feast", path=os.path.dirname(sys.executable))
    assert feast, "Feast's CLI must be installed next to this interpreter"
    workspaces = [tmp_path / "one"]
    for ws in workspaces:
        (ws / "feast").mkdir(parents=True)
        generate_synthetic(SyntheticConfig(customers=50, end=date(2024, 3, 31)), ws / "raw", workers=1)
        env = {**os.environ, WORKDIR_ENV: str(ws)}
        subprocess.run([feast, "apply"], cwd=REPO / "feature_repo", env=env, check=True, capture_output=True)
        assert (ws / "feast" / "registry.db").is_file()
        views = subprocess.run(
            [feast, "feature-views", "list"], cwd=REPO / "feature_repo", env=env, check=True, capture_output=True,
            text=True,
        )  # fmt: skip
        assert "category_orders" in views.stdout
    assert not (REPO / "feature_repo" / "data").exists()
    assert list((REPO / "feature_repo").glob("*.db")) == []
