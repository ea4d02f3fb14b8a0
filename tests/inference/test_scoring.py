"""``propensity score``: scores equal the boosters' own predictions, reach Feast offline and online, re-runs
replace, failures publish nothing."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
from feast import FeatureStore
from typer.testing import CliRunner

from inference.drift_check import DriftError
from inference.score_store import PUSHING, ScoresLockedError, ScoreStore
from inference.scorer import drift_sample
from inference.scoring import ScoreConfig, ScoreError, score_customers
from propensity.cli import app
from propensity.config import Workspace
from propensity.datagen.raw_views import connect_raw, data_range
from propensity.features.feast_cli import run_feast
from propensity.features.offline_store import OfflineStore
from propensity.features.schemas import SCORES_VIEW
from tests.support.feature_store import feast_materialize_in_two_steps, latest_offline
from tests.support.raw import eligible_customers
from tests.support.workspaces import copy_workspace
from training.registry import PROFILE_FILE, ModelRegistry
from training.training_set import build_training_set

runner = CliRunner()
MODELLED = ("greeting_cards", "photo_books")  # the two categories with the most positives


@pytest.fixture(scope="module")
def scored(trained_workspace: tuple[Workspace, str], tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A copy of the trained workspace with the production models of MODELLED only, scored as of the day after
    the data."""
    trained = trained_workspace[0]
    ws = copy_workspace(trained, tmp_path_factory.mktemp("scoring") / "ws", ("raw", "offline", "labels"))
    for category in MODELLED:
        shutil.copytree(trained.models_dir / category, ws.models_dir / category)
    result = runner.invoke(app, ["score", "--workdir", str(ws.root)])
    assert result.exit_code == 0, result.output
    return ws


def _copy(ws: Workspace, root: Path) -> Workspace:
    """A copy of the scored workspace, active, for a test that changes it, with a Feast registry and online store
    of its own: applied afresh (a copied registry would point into the original) and the latest scores pushed."""
    for part in ws.root.iterdir():
        if part.is_dir() and part.name != "feast":
            shutil.copytree(part, root / part.name)
    copy = Workspace.resolve(root).activate()
    assert run_feast(copy, ["apply"]).returncode == 0
    scores = ScoreStore(copy, FeatureStore(repo_path=str(copy.feature_repo)))
    scores.push_online(scores.path(scores.dates()[-1]))
    return copy


def _modelled(ws: Workspace) -> list[str]:
    registry = ModelRegistry(ws.models_dir)
    return [c for c in registry.categories() if registry.production(c) is not None]


def _last_day(ws: Workspace) -> date:
    return data_range(connect_raw(ws))[1] + timedelta(days=1)


def _scores(ws: Workspace, day: date) -> pd.DataFrame:
    return pq.read_table(ScoreStore(ws, None).path(day)).to_pandas().sort_values("customer_id", ignore_index=True)


def test_every_eligible_customer_gets_the_boosters_own_scores(scored: Workspace) -> None:
    scored.activate()
    day = _last_day(scored)
    scores = _scores(scored, day)
    assert set(scores.customer_id) == eligible_customers(scored, day) and scores.customer_id.is_unique
    registry = ModelRegistry(scored.models_dir)
    modelled = _modelled(scored)
    assert json.loads(scores.model_versions.iloc[0]) == {c: registry.production(c).version for c in modelled}
    assert scores.scoring_run.nunique() == 1
    assert (scores.event_timestamp == pd.Timestamp(day, tz="UTC")).all()
    # The same customers joined point-in-time by the training path and scored by each model directly.
    stamp = datetime(day.year, day.month, day.day, tzinfo=UTC)
    entities = pd.DataFrame({"customer_id": scores.customer_id, "event_timestamp": stamp})
    refs = build_training_set(scored.feature_repo, entities, "propensity_v1").to_arrow_refs()
    arrow = pa.concat_tables(ray.get(refs)).sort_by("customer_id")
    for category in modelled:
        model = registry.load(category)
        expected = model.predict_proba(model.card.layout.matrix(arrow)).astype(np.float32)
        np.testing.assert_array_equal(scores[category].to_numpy(), expected)
    others = [c for c in scores.columns if c not in {*modelled, "customer_id", "event_timestamp", "created_at",
                                                      "model_versions", "scoring_run"}]  # fmt: skip
    assert len(others) > 10 and scores[others].isna().all().all()  # categories without a model: null


def test_online_equals_offline_for_the_latest_date(scored: Workspace) -> None:
    scores = _scores(scored, _last_day(scored))
    store = FeatureStore(repo_path=str(scored.activate().feature_repo))
    modelled = _modelled(scored)
    labels = pq.read_schema(scored.labels_dir / "labels.parquet").names
    unmodelled = next(n.removeprefix("label_") for n in labels if n.startswith("label_") and n[6:] not in modelled)
    refs = [f"customer_propensity:{c}" for c in [*modelled, unmodelled, "scoring_run"]]
    online = store.get_online_features(refs, [{"customer_id": int(i)} for i in scores.customer_id]).to_df()
    merged = online.merge(scores, on="customer_id", suffixes=("_online", ""))
    assert len(merged) == len(scores)
    for category in modelled:
        np.testing.assert_allclose(merged[f"{category}_online"], merged[category], rtol=0, atol=0)
    assert merged[f"{unmodelled}_online"].isna().all()
    assert (merged.scoring_run_online == merged.scoring_run).all()


def test_feast_materializes_the_scores(scored: Workspace, tmp_path: Path) -> None:
    ws = copy_workspace(scored, tmp_path / "ws", ("raw", "offline"))  # its online store starts empty
    schema = pq.read_schema(OfflineStore(ws).schema_file(SCORES_VIEW))
    assert all(pq.read_schema(f).equals(schema) for f in OfflineStore(ws).view_dir(SCORES_VIEW).glob("*/*.parquet"))
    feast_materialize_in_two_steps(ws)
    latest = latest_offline(ws, SCORES_VIEW).head(30)
    store = FeatureStore(repo_path=str(ws.feature_repo))
    columns = [*_modelled(scored), "scoring_run"]
    online = store.get_online_features(
        [f"customer_propensity:{c}" for c in columns], [{"customer_id": int(i)} for i in latest.index]
    ).to_df()
    assert online.customer_id.tolist() == latest.index.tolist()
    pd.testing.assert_frame_equal(online[columns], latest[columns].reset_index(drop=True), check_dtype=False)


def test_rescoring_a_date_replaces_it_and_an_earlier_date_stays_offline(scored: Workspace) -> None:
    ws = scored.activate()
    day = _last_day(ws)
    before = _scores(ws, day)
    again = score_customers(ws, ScoreConfig())
    after = _scores(ws, day)
    assert again.as_of == day and again.online
    assert len(after) == len(before) and after.scoring_run.unique().tolist() == [again.run_id]
    modelled = _modelled(ws)
    np.testing.assert_array_equal(after[modelled].to_numpy(), before[modelled].to_numpy())
    earlier = score_customers(ws, ScoreConfig(as_of=day - timedelta(days=14)))
    assert not earlier.online
    assert ScoreStore(ws, None).dates() == [earlier.as_of, day]
    store = FeatureStore(repo_path=str(ws.feature_repo))
    customers = [{"customer_id": int(i)} for i in after.customer_id.head(50)]
    online = store.get_online_features(["customer_propensity:scoring_run"], customers).to_df()
    assert set(online.scoring_run) == {again.run_id}  # the latest date's run, not the earlier one
    # Feast joins past scores into later rows: each entity row sees the latest scoring date at or before it.
    ids = after.customer_id.head(20).tolist()
    stamps = {day - timedelta(days=1): earlier.run_id, day: again.run_id}
    entities = pd.DataFrame(
        [{"customer_id": i, "event_timestamp": pd.Timestamp(d, tz="UTC")} for i in ids for d in stamps]
    )
    joined = store.get_historical_features(entities, ["customer_propensity:scoring_run"]).to_df()
    assert len(joined) == len(entities)
    for stamp, run_id in stamps.items():
        rows = joined[joined.event_timestamp == pd.Timestamp(stamp, tz="UTC")]
        assert set(rows.scoring_run.dropna()) == {run_id}


def test_a_failed_online_push_gives_customers_their_published_scores_back(scored: Workspace, tmp_path) -> None:
    ws = _copy(scored, tmp_path / "restore")
    day = _last_day(ws)
    published = _scores(ws, day)
    scores = ScoreStore(ws, FeatureStore(repo_path=str(ws.feature_repo)))
    schema = pq.read_schema(next(scores.path(day).glob("*.parquet")))
    modelled = _modelled(ws)
    # A re-run of the published date whose push fails part-way: its first file (other scores, and a customer
    # never scored before) reaches the online store, its second cannot be read as the view's types.
    first = published.head(40).copy()
    first[modelled] = 0.5
    first.loc[first.index[-1], "customer_id"] = newcomer = int(published.customer_id.max()) + 1
    first.scoring_run = "failed-run"
    second = published.tail(5).astype({modelled[0]: str}).assign(**{modelled[0]: "not a score"})

    def write(directory: Path) -> int:
        pq.write_table(pa.Table.from_pandas(first, schema=schema, preserve_index=False), directory / "a.parquet")
        pq.write_table(pa.Table.from_pandas(second, preserve_index=False), directory / "b.parquet")
        return len(first) + len(second)

    with pytest.raises(pa.ArrowInvalid):
        scores.publish(day, write)
    pd.testing.assert_frame_equal(_scores(ws, day), published)  # offline untouched
    refs = [f"customer_propensity:{c}" for c in [*modelled, "scoring_run"]]
    online = scores.store.get_online_features(refs, [{"customer_id": int(i)} for i in first.customer_id]).to_df()
    merged = online.merge(published, on="customer_id", how="left", suffixes=("_online", ""))
    known = merged[merged.customer_id != newcomer]
    for category in modelled:
        np.testing.assert_array_equal(known[f"{category}_online"], known[category])
    assert (known.scoring_run_online == known.scoring_run).all()
    stranger = merged[merged.customer_id == newcomer]
    assert stranger[[f"{c}_online" for c in modelled]].isna().all().all() and stranger.scoring_run_online.isna().all()
    assert not list(scores.scratch.iterdir())


def test_a_run_killed_after_its_push_is_undone_by_the_next_publication(scored: Workspace, tmp_path) -> None:
    ws = _copy(scored, tmp_path / "killed")
    day = _last_day(ws)
    published = _scores(ws, day)
    scores = ScoreStore(ws, FeatureStore(repo_path=str(ws.feature_repo)))
    modelled = _modelled(ws)
    # What a run killed between its push and its rename leaves: its staged date, the marker, its scores online.
    staging = scores.scratch / f".{day}.staging-killed"
    staging.mkdir(parents=True)
    killed = published.assign(scoring_run="killed-run", **dict.fromkeys(modelled, 0.25))
    pq.write_table(pa.Table.from_pandas(killed, preserve_index=False), staging / "part.parquet")
    (scores.scratch / f"{staging.name}{PUSHING}").touch()
    scores.push_online(staging)
    customers = [{"customer_id": int(i)} for i in published.customer_id]
    refs = [f"customer_propensity:{c}" for c in [*modelled, "scoring_run"]]
    assert set(scores.store.get_online_features(refs, customers).to_df().scoring_run) == {"killed-run"}
    earlier = score_customers(ws, ScoreConfig(as_of=day - timedelta(days=7)))  # any publication recovers first
    assert not earlier.online
    online = scores.store.get_online_features(refs, customers).to_df()
    merged = online.merge(published, on="customer_id", suffixes=("_online", ""))
    assert len(merged) == len(published)
    for column in [*modelled, "scoring_run"]:
        np.testing.assert_array_equal(merged[f"{column}_online"], merged[column])
    pd.testing.assert_frame_equal(_scores(ws, day), published)
    assert not list(scores.scratch.iterdir())


def test_a_model_giving_non_probabilities_publishes_nothing(scored: Workspace, tmp_path) -> None:
    ws = _copy(scored, tmp_path / "broken")
    day = _last_day(ws)
    before = _scores(ws, day)
    registry = ModelRegistry(ws.models_dir)
    category = _modelled(ws)[0]
    card_file = ws.models_dir / category / f"v{registry.production(category).version:04d}" / "card.json"
    card = json.loads(card_file.read_text())
    card["positive_weight"] = float("nan")  # a corrupt card: every score of this model becomes NaN
    card_file.write_text(json.dumps(card))
    with pytest.raises(ScoreError, match=rf"scores outside \[0, 1\] or not finite \({category}: \d+\)"):
        score_customers(ws, ScoreConfig())
    pd.testing.assert_frame_equal(_scores(ws, day), before)
    assert not list((ws.offline_dir / ".staging").iterdir())


def test_the_drift_report_counts_each_sampled_row_once(scored: Workspace) -> None:
    ws = scored.activate()
    day = _last_day(ws)
    scores = _scores(ws, day)
    registry = ModelRegistry(ws.models_dir)
    model = registry.load(_modelled(ws)[0])
    report = pq.read_table(ws.reports_dir / f"score-{scores.scoring_run.iloc[0]}" / "drift.parquet").to_pandas()
    assert set(report.training_run) == {model.card.run_id}
    assert sorted(report.feature) == sorted(model.card.layout.columns)
    assert report.psi.is_monotonic_decreasing and (report.psi >= 0).all()
    # The actors' summed counts equal one count of the sampled rows of the whole joined matrix.
    stamp = datetime(day.year, day.month, day.day, tzinfo=UTC)
    entities = pd.DataFrame({"customer_id": scores.customer_id, "event_timestamp": stamp})
    arrow = pa.concat_tables(ray.get(build_training_set(ws.feature_repo, entities, "propensity_v1").to_arrow_refs()))
    sample = drift_sample(arrow.column("customer_id"))
    assert 0.05 < sample.mean() < 0.15
    expected = model.profile.psi(model.profile.count(model.card.layout.matrix(arrow)[sample]))
    assert dict(zip(report.feature, report.psi, strict=True)) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_a_drifted_feature_blocks_the_push_naming_it(scored: Workspace, tmp_path) -> None:
    ws = _copy(scored, tmp_path / "drifted")
    day = _last_day(ws)
    before = _scores(ws, day)
    store = FeatureStore(repo_path=str(ws.feature_repo))
    customers = [{"customer_id": int(i)} for i in before.customer_id.head(30)]
    online_before = store.get_online_features(["customer_propensity:scoring_run"], customers).to_df()
    # A pipeline bug in the latest month: a broken join leaves the yearly spend empty.
    latest = max((ws.offline_dir / "customer_rfm").glob("[0-9]*"))  # the last month's directory
    for part in latest.glob("*.parquet"):
        table = pq.read_table(part)
        at = table.schema.get_field_index("all_spend_365d")
        pq.write_table(table.set_column(at, "all_spend_365d", pa.nulls(table.num_rows, table.field(at).type)), part)
    with pytest.raises(DriftError, match=r"PSI above 3 .* worst: all_spend_365d \d+\.\d\d \(models: "):
        score_customers(ws, ScoreConfig())
    pd.testing.assert_frame_equal(_scores(ws, day), before)
    online_after = store.get_online_features(["customer_propensity:scoring_run"], customers).to_df()
    pd.testing.assert_frame_equal(online_after, online_before)
    assert not list((ws.offline_dir / ".staging").iterdir())
    # The report of the blocked run is kept; with the check off, the same data publishes.
    blocked = max((ws.reports_dir).glob("score-*/drift.parquet"), key=lambda p: p.stat().st_mtime)
    assert pq.read_table(blocked).column("feature")[0].as_py() == "all_spend_365d"
    run = score_customers(ws, ScoreConfig(max_psi=float("inf")))
    assert run.drift[0][0] == "all_spend_365d" and set(_scores(ws, day).scoring_run) == {run.run_id}


def test_a_scoring_actor_killed_mid_run_is_replaced_and_the_run_completes(scored: Workspace, tmp_path) -> None:
    ws = _copy(scored, tmp_path / "kill")
    day = _last_day(ws)
    before = _scores(ws, day)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(score_customers, ws, ScoreConfig())
        killed = _kill_a_scoring_actor(running)
        run = running.result(timeout=600)
    assert killed, "no scoring actor was seen alive to kill"
    after = _scores(ws, day)
    assert after.scoring_run.unique().tolist() == [run.run_id]
    modelled = _modelled(ws)
    pd.testing.assert_frame_equal(after[["customer_id", *modelled]], before[["customer_id", *modelled]])


def _kill_a_scoring_actor(running: Future) -> bool:
    """SIGKILL the first Ray Data scoring actor of this process's Ray seen alive (once it has had time to take a
    block); one that ends meanwhile is passed over for the next."""
    while not running.done():
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                if any("ModelScorer" in part for part in proc.cmdline()):
                    time.sleep(0.5)
                    proc.kill()
                    return True
        time.sleep(0.05)
    return False


def test_a_model_without_a_drift_reference_needs_the_check_off(scored: Workspace, tmp_path) -> None:
    ws = _copy(scored, tmp_path / "unprofiled")
    category = _modelled(ws)[0]
    version = ModelRegistry(ws.models_dir).production(category).version
    (ws.models_dir / category / f"v{version:04d}" / PROFILE_FILE).unlink()  # as registered before drift checks
    day = _last_day(ws)
    before = _scores(ws, day)
    with pytest.raises(ValueError, match=rf"{category} v{version} has no drift reference.*`max_psi` inf"):
        score_customers(ws, ScoreConfig())
    pd.testing.assert_frame_equal(_scores(ws, day), before)
    run = score_customers(ws, ScoreConfig(max_psi=float("inf")))
    assert set(_scores(ws, day).scoring_run) == {run.run_id}
    report = pq.read_table(run.drift_report).to_pandas()  # the other models of its training run are checked
    assert len(report) and not report.categories.str.split(",").map(lambda c: category in c).any()


def test_a_second_run_waits_for_the_lock_and_says_so(scored: Workspace) -> None:
    ws = scored.activate()
    day = _last_day(ws)
    before = _scores(ws, day)
    with ScoreStore(ws, None).lock(timeout=0), pytest.raises(ScoresLockedError, match="another scoring run has held"):
        score_customers(ws, ScoreConfig(lock_timeout=0.5))
    pd.testing.assert_frame_equal(_scores(ws, day), before)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2031-01-01"], "is outside the data"),
        (["--as-of", "yesterday"], "--as-of 'yesterday' is not a date"),
        (["--categories", "unicorns"], "no production model for unicorns"),
        (["--workers", "0"], "workers: Input should be greater than or equal to 1"),
        (["--max-psi", "0"], "--max-psi: Input should be greater than 0"),
        (["--max-psi", "nan"], "--max-psi: Input should be greater than 0"),
    ],
)
def test_bad_input_is_a_clear_error(scored: Workspace, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["score", "--workdir", str(scored.root), *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def test_scoring_without_models_says_to_train(model_workspace: Workspace, tmp_path) -> None:
    ws = Workspace.resolve(tmp_path / "untrained")
    for part in ("raw", "offline", "feast"):
        shutil.copytree(model_workspace.root / part, ws.root / part)
    result = runner.invoke(app, ["score", "--workdir", str(ws.root)])
    assert result.exit_code == 2 and "run `propensity train` first" in result.output, result.output
