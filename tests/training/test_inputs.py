"""A workspace's training set is current while its labels, feature definitions and offline files are unchanged,
and ``train_models`` then trains on it without joining again."""

from __future__ import annotations

from pathlib import Path

import pytest

from propensity.cli.feast import run_feast
from propensity.config import Workspace
from propensity.features.pipeline import view_dir
from tests.conftest import copy_workspace
from tests.test_offline_mirror import rewrite
from training.inputs import current_training_set
from training.trainer import TrainConfig, train_models, write_workspace_training_set

SERVICE = "propensity_v1"


def files_of(directory: Path) -> dict[str, int]:
    return {path.name: path.stat().st_ino for path in directory.iterdir()}


@pytest.fixture
def ws(small_workspace: Workspace, tmp_path: Path) -> Workspace:
    return copy_workspace(small_workspace, tmp_path / "ws")


def test_training_reuses_the_training_set_until_an_input_changes(ws: Workspace) -> None:
    assert current_training_set(ws, SERVICE) is None  # none written yet
    path = write_workspace_training_set(ws, SERVICE)
    assert current_training_set(ws, SERVICE) == path
    assert run_feast(ws, ["apply"], capture=True).returncode == 0  # the same definitions again
    assert current_training_set(ws, SERVICE) == path
    joined = files_of(path)
    config = TrainConfig(categories=["photo_books"], workers=1)
    assert train_models(ws, config).reused_training_set == path  # (and `propensity train`: test_cluster.py)
    assert files_of(path) == joined  # not written again

    labels = ws.labels_dir / "labels.parquet"
    rewrite(labels, labels.read_bytes())  # equal bytes, written again as `propensity labels` does
    assert current_training_set(ws, SERVICE) is None  # so `train_models` joins it again
    assert write_workspace_training_set(ws, SERVICE) == path
    assert current_training_set(ws, SERVICE) == path

    offline = min(view_dir(ws, "customer_rfm").rglob("*.parquet"))
    rewrite(offline, offline.read_bytes())  # as a feature build does
    assert current_training_set(ws, SERVICE) is None
