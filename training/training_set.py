"""Point-in-time correct training sets as Ray Datasets, equal to Feast's ``get_historical_features``.

The entity rows are sorted by their join keys with Ray Data (a distributed range partition) and cut into
blocks of about ``batch_rows`` rows; a Ray task joins each block to every feature view with
:func:`training.pit.join_batch`, reading only that block's key range of each source. The driver never
holds the entity rows or the offline store, so the same call runs on a laptop and on a Ray cluster
(``RAY_ADDRESS``), provided the sources sit on storage every node can read.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import ray
import ray.data
from feast import FeatureStore

from propensity.raysession import cluster_cpus
from propensity.storage import staged_directory
from training.pit import join_batch
from training.plan import ENTITY_TIMESTAMP, JoinPlan, TrainingSetError, resolve_plan

EntityInput = pd.DataFrame | pa.Table | ray.data.Dataset | str | Path
BATCH_ROWS = 50_000


def build_training_set(
    repo_path: str | Path,
    entity_df: EntityInput,
    features: list[str] | str,
    *,
    full_feature_names: bool = False,
    batch_rows: int = BATCH_ROWS,
    workers: int | None = None,
    presorted: bool = False,
) -> ray.data.Dataset:
    """The training set of ``entity_df`` joined point-in-time to ``features`` of the Feast repo ``repo_path``.

    ``entity_df`` (a DataFrame, Arrow table, Ray Dataset or Parquet path) needs the views' join keys and an
    ``event_timestamp`` column; its other columns pass through. ``features`` is a list of ``view:feature``
    references or a feature-service name. The rows equal ``get_historical_features(...).to_df()`` of Feast's
    DuckDB offline store (same columns, order, types, values and nulls), in another row order. Inputs are
    checked before any work starts (:class:`TrainingSetError`).

    The entity rows are joined in blocks of ``batch_rows``, at most ``workers`` at a time (default: the
    cluster's CPUs). They are first sorted by join key so each block reads a narrow slice of every source;
    ``presorted=True`` skips that sort for rows already clustered by key or by time (a label table, ordered by
    cutoff and customer, is).
    """
    if batch_rows < 1:
        raise TrainingSetError(f"batch_rows must be at least 1, got {batch_rows}")
    if workers is not None and workers < 1:
        raise TrainingSetError(f"workers must be at least 1, got {workers}")
    store = FeatureStore(repo_path=str(_repo(repo_path)))
    plan = resolve_plan(store, features, full_feature_names=full_feature_names)
    entities, rows = _entity_rows(entity_df)
    _check_entities(entities.schema if isinstance(entities, pa.Table) else entities.schema(), plan)
    if rows == 0:
        raise TrainingSetError("entity_df has no rows")
    concurrency = min(math.ceil(rows / batch_rows), workers or cluster_cpus())
    blocks = concurrency * math.ceil(rows / batch_rows / concurrency)
    dataset = _split(entities, rows, blocks)
    if not presorted:
        dataset = dataset.sort(list(plan.entity_keys))
    return dataset.map_batches(
        join_batch,
        fn_kwargs={"plan": plan},
        batch_size=None,
        batch_format="pyarrow",
        zero_copy_batch=True,
        concurrency=concurrency,
        num_cpus=1,
    )


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


def _entity_rows(entity_df: EntityInput) -> tuple[pa.Table | ray.data.Dataset, int]:
    """The entity rows as an Arrow table or a Ray Dataset, and their count. DataFrame timestamps are coerced
    the way Feast coerces them."""
    if isinstance(entity_df, pd.DataFrame):
        column = entity_df.get(ENTITY_TIMESTAMP)
        if column is not None and (pd.api.types.is_string_dtype(column) or pd.api.types.is_object_dtype(column)):
            entity_df = entity_df.assign(**{ENTITY_TIMESTAMP: _parse_timestamps(entity_df[ENTITY_TIMESTAMP])})
        entity_df = pa.Table.from_pandas(entity_df, preserve_index=False)
    if isinstance(entity_df, pa.Table):
        return entity_df, entity_df.num_rows
    if isinstance(entity_df, ray.data.Dataset):
        return entity_df, entity_df.count()
    if isinstance(entity_df, str | Path):
        remote = "://" in str(entity_df)
        path = Path(entity_df).expanduser()
        if not remote and not path.exists():
            raise TrainingSetError(f"entity_df: no such Parquet file or directory: {path}")
        dataset = ray.data.read_parquet(str(entity_df) if remote else str(path.resolve()), file_extensions=["parquet"])
        return dataset, dataset.count()
    raise TrainingSetError(
        "entity_df must be a pandas DataFrame, Arrow table, Ray Dataset or Parquet path, "
        f"not {type(entity_df).__name__}"
    )


def _split(entities: pa.Table | ray.data.Dataset, rows: int, blocks: int) -> ray.data.Dataset:
    """``entities`` as a Ray Dataset of ``blocks`` blocks of (nearly) equal size, in their order."""
    if isinstance(entities, ray.data.Dataset):
        return entities.repartition(blocks)
    size = math.ceil(rows / blocks)
    return ray.data.from_arrow([entities.slice(start, size) for start in range(0, rows, size)])


def _parse_timestamps(column: pd.Series) -> pd.Series:
    try:
        return pd.to_datetime(column, utc=True)
    except (ValueError, TypeError) as error:
        raise TrainingSetError(f"entity_df: {ENTITY_TIMESTAMP} holds values that are not timestamps: {error}") from None


def _check_entities(schema: ray.data.Schema | None, plan: JoinPlan) -> None:
    """Refuse entity rows without ``event_timestamp`` (as a timestamp) or without a join key."""
    if schema is None:
        raise TrainingSetError("entity_df has no columns")
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
