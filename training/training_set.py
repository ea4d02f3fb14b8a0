"""Point-in-time correct training sets as Ray Datasets, equal to Feast's ``get_historical_features``.

The entity rows are sorted by timestamp and join keys (unless they come so) and cut into slices of about
``batch_rows`` rows (:mod:`training.entities`); a Ray task loads each slice and joins it to every feature view
with :func:`training.pit.join_batch`, reading only the row groups of each source that slice can need. The
driver never holds the entity rows (beyond those it was handed) or the offline store, so the same call runs on a
laptop and on a Ray cluster (``RAY_ADDRESS``), provided the sources sit on storage every node can read.

Two ways to run the tasks, with the same rows: *eager* (the default while the result fits in a quarter of the
cluster's object store) runs them now and returns a Dataset of their results, the fastest path; *streaming*
(larger results) returns a lazy Dataset whose read tasks join, so a consumer (a Parquet write, a scorer) takes
the blocks as they come, within Ray Data's memory budget.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import ray
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from propensity.progress import Progress
from propensity.raysession import cluster_cpus, ensure_ray
from propensity.storage import staged_directory
from training.config import BATCH_ROWS
from training.entities import EntityInput, EntityRows, EntitySlice
from training.pit import join_batch
from training.plan import ENTITY_TIMESTAMP, JoinPlan, TrainingSetError

EAGER_SHARE = 0.25  # eager while the estimated result is at most this share of the cluster's object store


def build_training_set(
    repo_path: str | Path,
    entity_df: EntityInput,
    features: list[str] | str,
    *,
    full_feature_names: bool = False,
    batch_rows: int = BATCH_ROWS,
    workers: int | None = None,
    presorted: bool = False,
    streaming: bool | None = None,
    progress: Progress | None = None,
) -> ray.data.Dataset:
    """The training set of ``entity_df`` joined point-in-time to ``features`` of the Feast repo ``repo_path``.

    ``entity_df`` (a DataFrame, Arrow table, Ray Dataset or Parquet path) needs the views' join keys and an
    ``event_timestamp`` column; its other columns pass through. ``features`` is a list of ``view:feature``
    references or a feature-service name. The rows equal ``get_historical_features(...).to_df()`` of Feast's
    DuckDB offline store (same columns, order, types, values and nulls), in another row order. Inputs are
    checked before any work starts (:class:`TrainingSetError`).

    The entity rows are joined in slices of ``batch_rows``, at most ``workers`` at a time (default: the
    cluster's CPUs). They are first sorted by timestamp and join keys so each slice reads a narrow part of every
    source; ``presorted=True`` skips that sort for rows already clustered by time or key (a label table, ordered
    by cutoff and customer, is). ``streaming`` picks the way the tasks run (default: by the estimated size, see
    the module docstring); ``progress`` is called with the rows joined so far as eager tasks finish.
    """
    if batch_rows < 1:
        raise TrainingSetError(f"`batch_rows` must be at least 1, got {batch_rows}")
    if workers is not None and workers < 1:
        raise TrainingSetError(f"`workers` must be at least 1, got {workers}")
    from feast import FeatureStore  # here, not at the top: the Ray workers importing this module never need Feast

    from training.resolve import resolve_plan

    store = FeatureStore(repo_path=str(_repo(repo_path)))
    plan = resolve_plan(store, features, full_feature_names=full_feature_names)
    entities = EntityRows(entity_df)
    _check_entities(entities.schema, plan)
    if entities.num_rows == 0:
        raise TrainingSetError("entity_df has no rows")
    ensure_ray()
    concurrency = min(math.ceil(entities.num_rows / batch_rows), workers or cluster_cpus())
    count = concurrency * math.ceil(entities.num_rows / batch_rows / concurrency)
    slices = entities.slices(count, None if presorted else [ENTITY_TIMESTAMP, *plan.entity_keys])
    if streaming is None:
        capacity = ray.cluster_resources().get("object_store_memory", 0)
        streaming = entities.num_rows * plan.row_bytes > EAGER_SHARE * capacity
    if streaming:
        if progress:
            progress(0, entities.num_rows)  # the blocks are joined as a consumer pulls them, out of sight here
        source = _JoinSource(slices, plan)
        return ray.data.read_datasource(source, override_num_blocks=len(slices), concurrency=concurrency)
    tables = _join_eagerly(slices, plan, workers or len(slices), entities.num_rows, progress)
    return ray.data.from_arrow_refs(tables)


@ray.remote(num_returns=2)
def join_slice(piece: EntitySlice, plan: JoinPlan) -> tuple[pa.Table, int]:
    """One slice of entity rows joined to the plan's features, and its row count."""
    joined = join_batch(piece.load(), plan)
    return joined, joined.num_rows


def _join_eagerly(slices: list[EntitySlice], plan: JoinPlan, limit: int, total: int, progress: Progress | None) -> list:
    """Run a join task per slice, at most ``limit`` at a time; the references of their results (never fetched
    here). A failed task raises its error."""
    plan_ref = ray.put(plan)
    results: list[ray.ObjectRef] = []
    running: list[ray.ObjectRef] = []  # the tasks' row counts
    waiting, joined = list(slices), 0
    while waiting or running:
        while waiting and len(running) < limit:
            table, rows = join_slice.remote(waiting.pop(0), plan_ref)
            running.append(rows)
            results.append(table)
        done, running = ray.wait(running, num_returns=1)
        joined += ray.get(done[0])  # a count: the table stays where it was made
        if progress:
            progress(joined, total)
    return results


class _JoinSource(Datasource):
    """The join as a lazy Ray Data source: one read task per slice of entity rows."""

    def __init__(self, slices: list[EntitySlice], plan: JoinPlan):
        self.slices, self.plan = slices, plan

    def get_name(self) -> str:
        return "join_slice"  # read tasks show as ray::Read_join_slice, as eager ones as ray::join_slice

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(self, parallelism: int, **_: object) -> list[ReadTask]:
        meta = BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None)
        return [
            ReadTask(lambda piece=piece, plan=self.plan: [join_batch(piece.load(), plan)], meta)
            for piece in self.slices
        ]


def write_training_set(dataset: ray.data.Dataset, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``dataset`` as a Parquet directory at ``path``: staged beside it and renamed into place, so a failed
    write leaves nothing (and any older training set there intact)."""
    target = Path(path).expanduser().resolve()
    with staged_directory(target, overwrite=overwrite) as staging:
        dataset.write_parquet(str(staging))
    return target


def _repo(repo_path: str | Path) -> Path:
    path = Path(repo_path).expanduser().resolve()
    if not (path / "feature_store.yaml").is_file():
        raise TrainingSetError(f"{path} is not a Feast repo: it has no feature_store.yaml")
    return path


def _check_entities(schema: pa.Schema, plan: JoinPlan) -> None:
    """Refuse entity rows without ``event_timestamp`` (as a timestamp), without a join key, or with a join key of
    another kind (number, text) than a source stores."""
    types = dict(zip(schema.names, schema.types, strict=True))
    if ENTITY_TIMESTAMP not in types:
        raise TrainingSetError(
            f"entity_df has no {ENTITY_TIMESTAMP!r} column (it has {', '.join(schema.names)}); "
            f"add the time each row's features are wanted at"
        )
    if not pa.types.is_timestamp(types[ENTITY_TIMESTAMP]):
        raise TrainingSetError(
            f"entity_df: {ENTITY_TIMESTAMP!r} is {types[ENTITY_TIMESTAMP]}, not a timestamp; convert it first"
        )
    missing = [key for key in plan.entity_keys if key not in types]
    if missing:
        raise TrainingSetError(
            f"entity_df lacks the join key(s) {', '.join(missing)} of the requested feature views "
            f"(it has {', '.join(schema.names)})"
        )
    for view in plan.views:
        for key, column in view.join_keys.items():
            stored, given = view.key_types[key], types[column]
            if not pa.types.is_null(given) and _DUCKDB_KINDS.get(stored, _arrow_kind(given)) != _arrow_kind(given):
                raise TrainingSetError(
                    f"entity_df: join key {column!r} is {types[column]} but feature view {view.name!r} stores "
                    f"{key!r} as {stored}; convert it first"
                )


_DUCKDB_KINDS = dict.fromkeys(["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
                               "UBIGINT", "HUGEINT"], "integer") | {"VARCHAR": "text"}  # fmt: skip


def _arrow_kind(type_: pa.DataType) -> str | None:
    """``integer`` or ``text`` for the key types a join compares across kinds; None otherwise."""
    if pa.types.is_integer(type_):
        return "integer"
    return "text" if pa.types.is_string(type_) or pa.types.is_large_string(type_) else None
