"""Training matrices binned into pages on local disk: the same models as XGBoost's in-memory bins, and no pages
left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import ray
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from propensity.config import Workspace
from training.booster import positive_weight, predict_proba
from training.config import BoosterParams
from training.fitting import fit_category, quantile_options
from training.labels import LABEL_PREFIX
from training.matrix import MatrixLayout
from training.quantized import PREFIX, page_directory, quantized, row_blocks
from training.registry import ModelRegistry
from training.splits import TimeSplit
from training.trainer import CategoryTrainer, SplitData, TrainConfig, load_splits

CATEGORY = "photo_books"  # one of the two with the most positives
PARAMS = BoosterParams(num_boost_round=20, early_stopping_rounds=5)


def _matrix(rows: int, seed: int) -> np.ndarray:
    """Floats with a tenth missing, and a categorical code column (codes 0-3) first."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, 6)).astype(np.float32)
    matrix[:, 0] = rng.integers(0, 4, rows)
    matrix[rng.random(matrix.shape) < 0.1] = np.nan
    return matrix


def test_pages_give_the_models_in_memory_bins_give(tmp_path: Path) -> None:
    layout = MatrixLayout(("kind", "a", "b", "c", "d", "e"), (0,) * 6, (("w", "x", "y", "z"),) + ((),) * 5)
    train, validation, test = _matrix(3_000, 1), _matrix(800, 2), _matrix(500, 3)
    labels = {
        "train": (np.nan_to_num(train[:, 1]) + train[:, 0] > 1).astype(np.float32),
        "validation": (np.nan_to_num(validation[:, 1]) + validation[:, 0] > 1).astype(np.float32),
    }
    options = quantile_options(layout, PARAMS, threads=1)
    assert options["feature_types"][0] == "c"
    in_memory = xgb.QuantileDMatrix(train, **options)
    in_memory_check = xgb.QuantileDMatrix(validation, ref=in_memory, **options)
    on_disk = quantized(row_blocks(train), options, tmp_path / "train")
    on_disk_check = quantized(row_blocks(validation), options, tmp_path / "validation", ref=on_disk)
    assert list(tmp_path.glob("train*.page")) and list(tmp_path.glob("validation*.page"))
    expected = predict_proba(fit_category(in_memory, in_memory_check, labels, 2.0, PARAMS, threads=1), test, 2.0)
    scores = predict_proba(fit_category(on_disk, on_disk_check, labels, 2.0, PARAMS, threads=1), test, 2.0)
    np.testing.assert_array_equal(scores, expected)
    assert 0.05 < scores.mean() < 0.95 and scores.std() > 0.05  # a model that learned something


def test_row_blocks_cover_the_matrix_once_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    matrix = np.arange(70, dtype=np.float32).reshape(35, 2)
    monkeypatch.setattr("training.quantized.BLOCK_BYTES", 8 * 4 * 2)  # 8 rows of 2 float32 per block
    passes = row_blocks(matrix)
    first, second = list(passes()), list(passes())
    assert [len(block) for block in first] == [8, 8, 8, 8, 3]
    np.testing.assert_array_equal(np.concatenate(first), matrix)
    np.testing.assert_array_equal(np.concatenate(second), matrix)  # every call starts a new pass


def test_a_page_directory_sweeps_those_of_processes_that_died(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"{PREFIX}{int(ended.stdout)}-abc"
    (dead / "pages").mkdir(parents=True)
    alive = tmp_path / f"{PREFIX}1-abc"  # pid 1 always runs
    alive.mkdir()
    other = tmp_path / "someone-elses"
    other.mkdir()
    made = page_directory()
    assert made.parent == tmp_path and made.name.startswith(f"{PREFIX}{os.getpid()}-")
    assert not dead.exists() and alive.is_dir() and other.is_dir() and made.is_dir()


def test_a_trainer_keeps_its_pages_while_it_trains_and_removes_them_when_closed(
    trained_workspace: tuple[Workspace, str],
) -> None:
    ws = trained_workspace[0]
    card = ModelRegistry(ws.models_dir).load(CATEGORY).card
    split = TimeSplit(**{name: tuple(date.fromisoformat(c) for c in cutoffs) for name, cutoffs in card.split.items()})
    path = str(ws.training_sets_dir / "propensity_v1")
    data, _ = load_splits(path, card.features, [LABEL_PREFIX + CATEGORY], split)
    before = set(Path(tempfile.gettempdir()).glob(f"{PREFIX}*"))
    trainer = CategoryTrainer.remote(ray.put(data), TrainConfig(params=PARAMS), 1)
    result = ray.get(trainer.train.remote(CATEGORY, None))
    (pages,) = set(Path(tempfile.gettempdir()).glob(f"{PREFIX}*")) - before
    assert list(pages.glob("*.page"))
    ray.get(trainer.close.remote())
    assert not pages.exists()
    assert result.metrics["roc_auc"] == pytest.approx(_in_memory_auc(data), abs=0)


def _in_memory_auc(data: SplitData) -> float:
    """The test AUC of the category trained on XGBoost's in-memory bins, in this process."""
    options = quantile_options(data.layout, PARAMS, threads=1)
    train = xgb.QuantileDMatrix(data.matrices["train"], **options)
    validation = xgb.QuantileDMatrix(data.matrices["validation"], ref=train, **options)
    labels = {name: columns[LABEL_PREFIX + CATEGORY] for name, columns in data.labels.items()}
    weight = positive_weight(int(labels["train"].sum()), len(labels["train"]), PARAMS.max_positive_weight)
    booster = fit_category(train, validation, labels, weight, PARAMS, threads=1)
    return float(roc_auc_score(labels["test"], predict_proba(booster, data.matrices["test"], weight)))
