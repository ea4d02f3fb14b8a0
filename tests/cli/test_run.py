"""``propensity run`` end to end on tiny data, on a multi-node Ray cluster started here with the offline store on
S3 (a local S3-compatible server), as a user would run it: a subprocess with ``RAY_ADDRESS`` and
``PROPENSITY_OFFLINE_URI``. Every stage's output is checked against the raw data or Feast itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from feast import FeatureStore
from ray.cluster_utils import Cluster
from typer.testing import CliRunner

from propensity.cli import app
from propensity.config import OFFLINE_URI_ENV, WORKDIR_ENV, Workspace
from propensity.datagen.output import read_manifest
from propensity.datagen.raw_views import connect_raw, data_range
from propensity.features.embedding import product_embeddings_dir
from propensity.features.schemas import SCORES_VIEW
from propensity.stages import STAGES
from tests.support.mirror import local_tree, published
from tests.support.raw import eligible_customers
from tests.support.workspaces import MODEL_SEED
from training.registry import ModelRegistry

CUSTOMERS = 1_000


def _run(ws: Workspace, cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAY_ADDRESS": cluster.address, WORKDIR_ENV: str(ws.root), OFFLINE_URI_ENV: ws.offline_uri}
    command = [sys.executable, "-m", "propensity", "run", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


def _stages(ws: Workspace) -> list[dict]:
    runs = sorted(ws.reports_dir.glob("run-*/stages.json"))
    return [json.loads(path.read_text()) for path in runs]


def test_the_whole_pipeline_runs_on_a_cluster_from_s3_and_resumes_from_any_stage(
    isolated_workspace: Path, cluster: Cluster, model_workspace: Workspace, s3_bucket: str
) -> None:
    ws = Workspace(root=isolated_workspace, offline_uri=f"{s3_bucket}/run-{isolated_workspace.parent.name}")
    # The model workspace's seed, so the same products: their text embeddings are in the cache it starts with
    # (the embedding job itself runs in every workspace build of the suite).
    shutil.copytree(product_embeddings_dir(model_workspace), product_embeddings_dir(ws))
    dates = ["--start", "2025-01-01", "--end", "2025-12-31"]
    result = _run(ws, cluster, "--customers", str(CUSTOMERS), "--seed", str(MODEL_SEED), *dates)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"Ray cluster at {cluster.address}: 3 node(s), 2 CPU(s)" in " ".join(result.stderr.split())
    assert list(_stages(ws)[0]["stage_seconds"]) == [stage.name for stage in STAGES]

    assert read_manifest(ws.raw_dir)["rows"]["customers"] == CUSTOMERS
    labels = pq.read_metadata(ws.labels_dir / "labels.parquet").num_rows
    training_set = sum(pq.read_metadata(p).num_rows for p in (ws.training_sets_dir / "propensity_v1").glob("*.parquet"))
    assert labels > 0 and training_set == labels  # the point-in-time join keeps every label row

    registry = ModelRegistry(ws.models_dir)
    production = [c for c in registry.categories() if registry.production(c) is not None]
    metrics = {c: registry.card(c, registry.production(c).version).metrics for c in production}
    judged = [c for c in production if metrics[c]["positives"] >= 10]  # fewer test positives cannot judge a model
    assert len(judged) >= 2
    for category in judged:
        assert metrics[category]["roc_auc"] > 0.5, category
        assert metrics[category]["top_decile_precision"] > metrics[category]["base_rate"], category

    day = data_range(connect_raw(ws))[1] + timedelta(days=1)
    scores = pq.read_table(ws.offline_dir / SCORES_VIEW / day.isoformat()).to_pandas().set_index("customer_id")
    assert set(scores.index) == eligible_customers(ws, day)
    sample = sorted(scores.index)[:: max(1, len(scores) // 50)]
    online = (
        FeatureStore(repo_path=str(ws.feature_repo))
        .get_online_features(
            features=[f"{SCORES_VIEW}:{c}" for c in production], entity_rows=[{"customer_id": c} for c in sample]
        )
        .to_df()
        .set_index("customer_id")
    )
    for category in production:
        assert online.loc[sample, category].tolist() == pytest.approx(scores.loc[sample, category].tolist())

    report = ws.reports_dir / f"run-{_stages(ws)[0]['run_id']}"
    assert sorted(pcsv.read_csv(report / "scores.csv").column("category").to_pylist()) == sorted(production)
    assert sorted(pcsv.read_csv(report / "models.csv").column("category").to_pylist()) == sorted(production)
    store = FeatureStore(repo_path=str(ws.feature_repo))
    assert pcsv.read_csv(report / "coverage.csv").num_rows == len(store.list_feature_views())
    assert all(view.batch_source.path.startswith(f"{ws.offline_uri}/") for view in store.list_feature_views())
    assert published(ws.offline_uri) == local_tree(ws.offline_dir)  # features, embeddings and scores

    # Resuming runs only the stages asked for, on what the workspace holds. (Scoring a date again gives the same
    # scores: tests/inference/test_scoring.py.)
    result = _run(ws, cluster, "--from", "analytics")
    assert result.returncode == 0, result.stderr[-4000:]
    assert list(_stages(ws)[-1]["stage_seconds"]) == ["analytics"]
    again = ws.reports_dir / f"run-{_stages(ws)[-1]['run_id']}"
    counted = ["category", "customers"]  # of the same published scores
    assert (
        pcsv.read_csv(again / "scores.csv").select(counted).equals(pcsv.read_csv(report / "scores.csv").select(counted))
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "nope"], "--from 'nope' is not a stage; stages in order: data, features"),
        (["--from", "score", "--to", "labels"], "--from score comes after --to labels"),
    ],
)
def test_a_stretch_of_stages_out_of_order_is_refused(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["run", *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split())


def test_a_stage_without_its_input_says_where_to_resume(isolated_workspace: Path, ray_session) -> None:
    result = CliRunner().invoke(app, ["run", "--from", "train", "--to", "train"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "run `propensity run --from training-set`" in said and "resume with `propensity run --from train`" in said
