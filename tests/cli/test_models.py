"""``propensity train`` and ``propensity models list`` on a generated workspace: quality, registry, promotion."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from feast import FeatureStore
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from propensity.cli import app
from propensity.config import Workspace
from tests.support.workspaces import copy_workspace
from training.registry import FeatureMismatchError, ModelRegistry
from training.resolve import resolve_plan
from training.trainer import TrainConfig, train_models

runner = CliRunner()
BIG = ["greeting_cards", "photo_books"]  # the categories with the most positives


@pytest.fixture(scope="module")
def first_run(trained_workspace: tuple[Workspace, str]) -> dict[str, object]:
    """What the session's one `propensity train` of every category printed, and the registry listing after it."""
    ws, output = trained_workspace
    listed = runner.invoke(app, ["models", "list", "--json", "--workdir", str(ws.root)])
    assert listed.exit_code == 0, listed.output
    return {"output": output, "models": json.loads(listed.stdout)}


def _service_features(ws: Workspace, service: str) -> list[str]:
    plan = resolve_plan(FeatureStore(repo_path=str(ws.activate().feature_repo)), service, full_feature_names=False)
    return [name for view in plan.views for name in view.outputs]


def test_models_beat_the_base_rate(first_run: dict, model_workspace: Workspace) -> None:
    models = first_run["models"]
    labels = pq.read_schema(model_workspace.labels_dir / "labels.parquet").names
    categories = {name.removeprefix("label_") for name in labels if name.startswith("label_")}
    trained = {m["category"] for m in models}
    assert len(trained) >= 8 and set(BIG) <= trained
    assert all(m["version"] == 1 and m["stage"] == "production" for m in models)
    assert statistics.median(m["metrics"]["roc_auc"] for m in models) > 0.65
    # Every model with enough positives to judge ranks better than chance; with 5-9 test positives one may not.
    judged = [m for m in models if m["metrics"]["positives"] >= 10]
    assert len(judged) >= 2 and all(m["metrics"]["top_decile_lift"] > 1 for m in judged)
    assert statistics.median(m["metrics"]["top_decile_lift"] for m in models) > 2
    assert all(m["metrics"]["roc_auc"] > 0.7 for m in models if m["category"] in BIG)
    # The others are skipped with the reason, in the summary and the report, not failed.
    (report,) = model_workspace.reports_dir.glob("train-*/report.html")
    for category in categories - trained:
        assert category in first_run["output"]
    assert report.read_text().count("Skipped: too few positives") == len(categories - trained) > 0


def test_each_version_is_complete_and_its_test_auc_reproduces(first_run: dict, model_workspace: Workspace) -> None:
    registry = ModelRegistry(model_workspace.models_dir)
    model = registry.load("photo_books")
    card = model.card
    assert card.features == _service_features(model_workspace, "propensity_v1")
    assert card.feature_service == "propensity_v1" and card.label["column"] == "label_photo_books"
    assert card.label["definition"]["horizon_days"] == 30 and len(card.data_fingerprint) == 32
    assert {"xgboost", "ray", "feast", "python"} <= set(card.versions)
    assert (
        max(card.split["train"])
        < min(card.split["validation"])
        <= max(card.split["validation"])
        < min(card.split["test"])
    )
    version_dir = model_workspace.models_dir / "photo_books" / "v0001"
    assert {p.name for p in (version_dir / "plots").iterdir()} == {
        f"{k}.png" for k in ("roc", "pr", "lift", "calibration", "importance")
    }

    # Scoring the test cutoff's rows again from the written training set gives the recorded AUC.
    table = pq.read_table(model_workspace.training_sets_dir / "propensity_v1")
    test_cutoff = datetime.fromisoformat(card.split["test"][0]).replace(tzinfo=UTC)
    rows = table.filter(pc.equal(table.column("event_timestamp"), test_cutoff))
    scores = model.predict_proba(card.layout.matrix(rows))
    assert np.all((scores > 0) & (scores < 1))
    labels = rows.column("label_photo_books").to_numpy()
    assert roc_auc_score(labels, scores) == pytest.approx(card.metrics["roc_auc"], abs=1e-9)
    assert abs(scores.mean() - labels.mean()) < 0.5 * labels.mean() + 0.01  # calibrated, not weight-inflated


def test_a_feature_mismatch_with_the_service_is_refused(first_run: dict, model_workspace: Workspace) -> None:
    model = ModelRegistry(model_workspace.models_dir).load("photo_books")
    model.check_features(_service_features(model_workspace, "propensity_v1"), "propensity_v1")
    with pytest.raises(
        FeatureMismatchError, match=r"missing from online_profile: orders_photo_books_7d, .* and \d+ more; retrain"
    ):
        model.check_features(_service_features(model_workspace, "online_profile"), "online_profile")


def test_the_report_has_every_category(first_run: dict, model_workspace: Workspace) -> None:
    (report,) = model_workspace.reports_dir.glob("train-*/report.html")
    html = report.read_text()
    assert html.count('src="data:image/png;base64,') == 5 * len(first_run["models"])
    for model in first_run["models"]:
        assert f'id="{model["category"]}"' in html


def test_a_new_model_is_promoted_only_when_it_wins_or_is_forced(
    trained_workspace: tuple[Workspace, str], tmp_path: Path
) -> None:
    ws = copy_workspace(trained_workspace[0], tmp_path / "ws", ("raw", "offline", "labels", "training_sets", "models"))
    category = "photo_books"
    training_set = ws.training_sets_dir / "propensity_v1"
    # same data and seed: the same AUC, which does not beat production
    train_models(ws, TrainConfig(categories=[category]), training_set=training_set)
    registry = ModelRegistry(ws.models_dir)
    assert [registry.stage(category, v) for v in (1, 2)] == ["production", "candidate"]
    assert registry.stage("greeting_cards", 1) == "production" and registry.versions("greeting_cards") == [1]
    train_models(ws, TrainConfig(categories=[category], force=True), training_set=training_set)
    assert [registry.stage(category, v) for v in (1, 2, 3)] == ["archived", "candidate", "production"]
    assert registry.card(category, 3).metrics == registry.card(category, 1).metrics


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--categories", "photo_books,unicorns"], "unknown category unicorns"),
        (["--feature-service", "nope"], "unknown feature service 'nope'"),
        (["--workers", "0"], "workers: Input should be greater than or equal to 1"),
    ],
)
def test_bad_input_is_a_clear_error(model_workspace: Workspace, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["train", "--workdir", str(model_workspace.root), *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
