"""Bad input to the training-set builder is refused, with a message naming the problem, before any work starts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.training.cases import make_repo, write_rows
from training.plan import TrainingSetError
from training.training_set import build_training_set


@pytest.fixture()
def repo(tmp_path: Path, ray_session) -> Path:
    root = tmp_path / "repo"
    make_repo(root)
    return root


@pytest.fixture()
def entities(repo: Path):
    return write_rows(repo, 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.drop(columns="event_timestamp"), "no 'event_timestamp' column"),
        (lambda e: e.assign(event_timestamp=range(len(e))), "'event_timestamp' is int64, not a timestamp"),
        (lambda e: e.assign(event_timestamp="yesterday-ish"), "not timestamps"),
        (lambda e: e.drop(columns="store_id"), "lacks the join key(s) store_id"),
        (
            lambda e: e.assign(customer_id=e.customer_id.astype(str)),
            "join key 'customer_id' is string but feature view",
        ),
        (lambda e: e.assign(device_id=range(len(e))), "join key 'device_id' is int64 but feature view 'devices'"),
        (lambda e: e.iloc[:0], "entity_df has no rows"),
    ],
)
def test_bad_entity_rows(repo: Path, entities, change, message: str) -> None:
    with pytest.raises(TrainingSetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_training_set(repo, change(entities), "everything")


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (["orders:nope"], "feature view 'orders' has no feature 'nope'"),
        (["nope:spend"], "nope"),
        (["spend"], "not of the form `view:feature`"),
        ([], "no features requested"),
        ("no_such_service", "unknown feature service 'no_such_service'; this repo has: everything"),
        (["promos:visits", "store_visits:visits"], "visits"),  # a name collision without full feature names
    ],
)
def test_bad_feature_references(repo: Path, entities, features, message: str) -> None:
    with pytest.raises(TrainingSetError, match=message):
        build_training_set(repo, entities, features)


def test_bad_inputs_of_other_kinds(repo: Path, entities, tmp_path: Path) -> None:
    with pytest.raises(TrainingSetError, match="not list"):
        build_training_set(repo, [1, 2, 3], "everything")
    with pytest.raises(TrainingSetError, match="no such Parquet file or directory"):
        build_training_set(repo, tmp_path / "missing.parquet", "everything")
    with pytest.raises(TrainingSetError, match="is not a Feast repo"):
        build_training_set(tmp_path, entities, "everything")
    with pytest.raises(TrainingSetError, match="`batch_rows` must be at least 1"):
        build_training_set(repo, entities, "everything", batch_rows=0)
    with pytest.raises(TrainingSetError, match="`workers` must be at least 1"):
        build_training_set(repo, entities, "everything", workers=0)


def _rewrite(directory: Path, change) -> None:
    for path in directory.glob("*.parquet"):
        pq.write_table(change(pq.read_table(path)), path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: shutil.rmtree(d), r"feature view 'orders': no Parquet data at .*orders"),
        (lambda d: _rewrite(d, lambda t: t.drop_columns(["spend"])), "column 'spend' is missing from"),
        (
            lambda d: _rewrite(d, lambda t: t.set_column(4, "spend", t.column("spend").cast(pa.string()))),
            "feature 'spend' is declared Float32 but column 'spend' in .* is VARCHAR",
        ),
        (
            lambda d: _rewrite(d, lambda t: t.set_column(1, "event_timestamp", pa.array(range(t.num_rows)))),
            "timestamp column 'event_timestamp' in .* is BIGINT, not a timestamp",
        ),
    ],
)
def test_bad_sources(repo: Path, entities, change, message: str) -> None:
    change(repo / "data" / "orders")
    with pytest.raises(TrainingSetError, match=message):
        build_training_set(repo, entities, ["orders:spend"])
