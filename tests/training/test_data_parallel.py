"""Data-parallel training: the streaming survey and the strategy choice (training across a cluster: test_cluster)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from propensity.config import Workspace
from training.data_parallel import survey
from training.labels import LABEL_PREFIX
from training.registry import ModelRegistry
from training.splits import TimeSplit
from training.trainer import TrainConfig, choose_strategy, load_splits, uncompressed_bytes

CATEGORY = "photo_books"  # one of the two with the most positives


@pytest.fixture(scope="module")
def trained(trained_workspace: tuple[Workspace, str]) -> Workspace:
    """The session's workspace trained per category, for the survey and the strategy choice (training
    data-parallel itself runs across a cluster in tests/training/test_cluster.py, checked with
    :func:`tests.support.assertions.assert_good_and_reproducible`)."""
    return trained_workspace[0]


def test_the_streaming_survey_describes_the_set_as_loading_it_whole_does(trained: Workspace) -> None:
    path = str(trained.training_sets_dir / "propensity_v1")
    card = ModelRegistry(trained.models_dir).load(CATEGORY).card
    label_columns = [LABEL_PREFIX + CATEGORY]  # alone: the run that made the card trained every category
    split = TimeSplit(**{name: tuple(date.fromisoformat(c) for c in cutoffs) for name, cutoffs in card.split.items()})
    data, loaded = load_splits(path, card.features, label_columns, split)
    surveyed = survey(path, card.features, label_columns, split)
    assert surveyed.layout == data.layout == loaded.layout
    assert surveyed.rows == loaded.rows
    assert surveyed.fingerprints == loaded.fingerprints == {LABEL_PREFIX + CATEGORY: card.data_fingerprint}
    assert any(surveyed.layout.vocabularies)  # the string features' vocabularies came from the string columns alone
    for name, columns in data.labels.items():
        assert surveyed.positives[name] == {c: int(np.count_nonzero(y)) for c, y in columns.items()}


def test_auto_picks_data_parallel_for_sets_bigger_than_a_worker_should_hold(trained: Workspace) -> None:
    path = trained.training_sets_dir / "propensity_v1"
    size = uncompressed_bytes(path)
    assert size > sum(file.stat().st_size for file in Path(path).glob("*.parquet"))  # decoded, not on disk
    gib = size / 2**30
    assert choose_strategy(path, TrainConfig(max_worker_gib=gib * 0.99)) == "data-parallel"
    assert choose_strategy(path, TrainConfig(max_worker_gib=gib * 1.01)) == "per-category"
    assert choose_strategy(path, TrainConfig()) == "per-category"  # a quarter of this machine's memory
    assert choose_strategy(path, TrainConfig(strategy="data-parallel", max_worker_gib=1e3)) == "data-parallel"
