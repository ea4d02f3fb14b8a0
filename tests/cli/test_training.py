"""``propensity labels`` and ``propensity training-set`` on a real workspace, against Feast's own join."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from feast import FeatureStore
from typer.testing import CliRunner

from propensity.cli import app
from propensity.config import Workspace
from tests.support.workspaces import copy_workspace
from training.inputs import current_training_set

runner = CliRunner()


@pytest.fixture(scope="module")
def ws(small_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The small workspace's data and features (400 customers over nine months), applied, without labels."""
    return copy_workspace(small_workspace, tmp_path_factory.mktemp("training-cli") / "ws", ("raw", "offline"))


def test_labels_then_training_set_equal_feast(ws: Workspace) -> None:
    result = runner.invoke(app, ["labels", "--workdir", str(ws.root), "--horizon-days", "14"])
    assert result.exit_code == 0, result.output
    labels = pq.read_table(ws.labels_dir / "labels.parquet")
    assert labels.num_rows > 0 and "label_photo_books" in labels.column_names

    result = runner.invoke(app, ["training-set", "--workdir", str(ws.root)])
    assert result.exit_code == 0, result.output
    out = ws.training_sets_dir / "propensity_v1"
    got = pq.read_table(out)
    assert f"{labels.num_rows:,} rows" in result.output
    assert current_training_set(ws, "propensity_v1") == out  # so `propensity train` trains on it

    os.environ["PROPENSITY_WORKDIR"] = str(ws.root)
    store = FeatureStore(repo_path=str(ws.feature_repo))
    service = store.get_feature_service("propensity_v1")
    expected = store.get_historical_features(labels.to_pandas(), service).to_arrow()
    assert got.column_names == expected.column_names and len(got.column_names) > 2000
    order = [("customer_id", "ascending"), ("event_timestamp", "ascending")]
    assert got.cast(expected.schema).sort_by(order).equals(expected.sort_by(order))

    # Re-running replaces the default output; an explicit --out that holds data needs --overwrite.
    assert runner.invoke(app, ["training-set", "--workdir", str(ws.root)]).exit_code == 0
    assert pq.read_table(out).num_rows == labels.num_rows
    refused = runner.invoke(app, ["training-set", "--workdir", str(ws.root), "--out", str(out)])
    assert refused.exit_code == 2 and "already holds data" in refused.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["training-set", "--feature-service", "nope"], "unknown feature service 'nope'"),
        (["training-set", "--features", "customer_rfm:nope"], "has no feature 'nope'"),
        (["training-set", "--labels", "/no/such/labels"], "no label rows at /no/such/labels"),
        (["labels", "--cadence", "hourly"], "cadence: use `monthly`, `weekly`"),
        (["labels", "--horizon-days", "400"], "--horizon-days: Input should be less than or equal to 366"),
    ],
)
def test_bad_input_is_a_one_line_error(ws: Workspace, args: list[str], message: str) -> None:
    ws.labels_dir.mkdir(exist_ok=True)
    result = runner.invoke(app, [*args, "--workdir", str(ws.root)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_training_set_without_labels_says_what_to_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["training-set", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "run `propensity labels` first" in " ".join(result.output.split())
