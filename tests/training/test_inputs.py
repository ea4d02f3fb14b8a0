"""A workspace's training set is current while its labels, feature definitions and offline files are unchanged
(``propensity train`` then trains on it without joining again: tests/training/test_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from propensity.config import Workspace
from propensity.features.feast_cli import run_feast
from propensity.features.offline_store import OfflineStore
from tests.support.mirror import rewrite
from tests.support.workspaces import copy_workspace
from training.config import TrainingSetRequest
from training.inputs import current_training_set
from training.joining import join_training_set

SERVICE = "propensity_v1"


@pytest.fixture
def ws(small_workspace: Workspace, tmp_path: Path) -> Workspace:
    return copy_workspace(small_workspace, tmp_path / "ws")


def test_a_training_set_is_current_until_an_input_changes(ws: Workspace) -> None:
    assert current_training_set(ws, SERVICE) is None  # none written yet
    path = join_training_set(ws, TrainingSetRequest(SERVICE))
    assert current_training_set(ws, SERVICE) == path
    assert run_feast(ws, ["apply"], capture=True).returncode == 0  # the same definitions again
    assert current_training_set(ws, SERVICE) == path

    labels = ws.labels_dir / "labels.parquet"
    rewrite(labels, labels.read_bytes())  # equal bytes, written again as `propensity labels` does
    assert current_training_set(ws, SERVICE) is None  # so `train_models` joins it again
    assert join_training_set(ws, TrainingSetRequest(SERVICE)) == path
    assert current_training_set(ws, SERVICE) == path

    offline = min(OfflineStore(ws).view_dir("customer_rfm").rglob("*.parquet"))
    rewrite(offline, offline.read_bytes())  # as a feature build does
    assert current_training_set(ws, SERVICE) is None
