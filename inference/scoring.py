"""``propensity score``: every eligible customer scored by every category's production model, as of one date,
published as the ``customer_propensity`` feature view (offline, and online for the latest date).

The features come through the same point-in-time join as training (:func:`training.build_training_set`, entity
rows = the eligible customers at the scoring date), so a score sees exactly what a training row at that date
would. Ray Data streams the joined blocks through an actor pool that holds the boosters
(:class:`inference.scorer.ModelScorer`) into Parquet; nothing is collected on the driver. Before anything is
published the scores must be finite probabilities and no input feature may have drifted past ``max_psi`` from
its training data (:mod:`inference.drift_check`; the per-feature PSI is kept in
``reports/score-<run>/drift.parquet``). Publication is atomic and serialised per workspace
(:class:`inference.score_store.ScoreStore`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import ray
from feast import FeatureStore
from feast.errors import FeatureViewNotFoundException

from inference.config import ScoreConfig
from inference.drift_check import DriftCounter, check_drift, drift_report
from inference.models import production_models
from inference.score_store import ScoreStore
from inference.scorer import ScoringModel, score_dataset
from propensity.config import Workspace
from propensity.datagen.raw_views import connect_raw, data_range
from propensity.errors import BadInputError, NotThereYetError
from propensity.features.schemas import SCORES_VIEW
from propensity.raysession import cluster_cpus
from propensity.runs import new_run_id
from propensity.storage import sql_path, write_parquet
from training.labels import eligible_customers_query
from training.registry import ModelRegistry
from training.training_set import build_training_set

NOT_SCORES = ("model_versions", "scoring_run")


class ScoreError(BadInputError):
    """The scores of a run are not one probability per customer and model; nothing of the run is published."""


@dataclass(frozen=True)
class ScoringRun:
    """A published scoring run."""

    run_id: str
    as_of: date
    customers: int
    models: dict[str, int]  # category -> version
    path: Path
    online: bool
    seconds: float
    drift: list[tuple[str, float]]  # the most drifted features (PSI), worst first
    drift_report: Path


def score_customers(ws: Workspace, config: ScoreConfig) -> ScoringRun:
    """Score every eligible customer as of ``config.as_of`` and publish the scores (see module docs)."""
    started = datetime.now(UTC)
    run_id = new_run_id(started)
    store = FeatureStore(repo_path=str(ws.feature_repo))
    columns = score_columns(store)
    models = production_models(ModelRegistry(ws.models_dir), store, config.categories)
    service = _one_service(models)
    unprofiled = [f"{m.category} v{m.version}" for m in models if m.profile is None]
    if unprofiled and math.isfinite(config.max_psi):
        raise BadInputError(
            f"{', '.join(unprofiled)} ha{'s' if len(unprofiled) == 1 else 've'} no drift reference (registered "
            "before drift checks existed): retrain, or score with `max_psi` inf to skip the drift check"
        )
    con = connect_raw(ws)
    as_of = _as_of(config.as_of, *data_range(con))
    stamp = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    scores = ScoreStore(ws, store)
    scores.offline.ready()  # the join reads the object-store copy, when there is one
    scores.scratch.mkdir(parents=True, exist_ok=True)
    entities = scores.scratch / f"entities-{run_id}.parquet"
    report_path = ws.reports_dir / f"score-{run_id}" / "drift.parquet"
    counter = DriftCounter.remote()
    try:
        con.execute(
            f"COPY ({eligible_customers_query()}) TO '{sql_path(entities)}' (FORMAT parquet)",
            [stamp, config.eligibility_days],
        )
        customers = pq.read_metadata(entities).num_rows
        if customers == 0:
            raise BadInputError(f"no customer was active in the {config.eligibility_days} days before {as_of}")

        def write(directory: Path) -> int:
            joined = build_training_set(ws.feature_repo, entities, service, presorted=True)
            actors = config.workers or max(1, cluster_cpus() // 2)  # the rest join features
            scored = score_dataset(
                joined, models, columns, stamp=stamp, run_id=run_id, created=started, counter=counter, actors=actors
            )
            scored.write_parquet(str(directory))
            rows = sum(pq.read_metadata(part).num_rows for part in directory.glob("*.parquet"))
            if rows != customers:
                raise ScoreError(f"scored {rows} rows for {customers} customers; nothing was published")
            check_scores(directory, [m.category for m in models])
            report = drift_report(models, ray.get(counter.result.remote()))
            write_parquet(report, report_path)
            check_drift(report, config.max_psi, report_path)
            return rows

        rows, online = scores.publish(as_of, write, timeout=config.lock_timeout)
    finally:
        entities.unlink(missing_ok=True)
        ray.kill(counter)
    seconds = (datetime.now(UTC) - started).total_seconds()
    versions = {m.category: m.version for m in models}
    drift = [(r["feature"], r["psi"]) for r in pq.read_table(report_path).slice(0, 10).to_pylist()]
    return ScoringRun(run_id, as_of, rows, versions, scores.path(as_of), online, seconds, drift, report_path)


def check_scores(directory: Path, categories: list[str]) -> None:
    """Refuse the scores in ``directory`` unless every score of ``categories`` is a finite probability (one
    DuckDB pass over the staged files)."""
    bad = ", ".join(f'count(*) FILTER (NOT (isfinite("{c}") AND "{c}" BETWEEN 0 AND 1))' for c in categories)
    counts = duckdb.sql(f"SELECT {bad} FROM read_parquet('{sql_path(directory)}/*.parquet')").fetchall()[0]
    wrong = {c: n for c, n in zip(categories, counts, strict=True) if n}
    if wrong:
        detail = ", ".join(f"{c}: {n}" for c, n in wrong.items())
        raise ScoreError(f"scores outside [0, 1] or not finite ({detail}); nothing was published")


def score_columns(store: FeatureStore) -> list[str]:
    """The score columns of the registered ``customer_propensity`` view (one per category)."""
    try:
        view = store.get_feature_view(SCORES_VIEW)
    except FeatureViewNotFoundException:
        raise NotThereYetError(
            f"the Feast registry has no {SCORES_VIEW!r} view: run `propensity features apply`"
        ) from None
    return [field.name for field in view.features if field.name not in NOT_SCORES]


def _one_service(models: list[ScoringModel]) -> str:
    """The feature service every model reads (one run joins one service)."""
    services = sorted({m.feature_service for m in models})
    if len(services) > 1:
        raise BadInputError(
            f"the production models read different feature services ({', '.join(services)}); score them in "
            "separate runs with `categories`"
        )
    return services[0]


def _as_of(wanted: date | None, first: date, last: date) -> date:
    """The scoring date: ``wanted``, or the day after the last event; refused outside the data."""
    end = last + timedelta(days=1)
    day = wanted or end
    if not first < day <= end:
        raise BadInputError(f"`as_of` {day} is outside the data: pick a date after {first} and up to {end}")
    return day
