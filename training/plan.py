"""What a training set reads: feature references resolved through a Feast repo into a picklable join plan.

Resolution goes through Feast's own registry and reference grouping, so the views, the features and their
column order are exactly those ``FeatureStore.get_historical_features`` would use. Every source is checked
before any work starts: it must be Parquet on disk and its columns must agree with the view's schema.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
from feast import FeatureService, FeatureStore, FeatureView, FileSource, utils
from feast.data_format import ParquetFormat
from feast.errors import FeastObjectNotFoundException, FeatureViewNotFoundException
from feast.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

from propensity.storage import DamagedFileError, check_parquet_files

ENTITY_TIMESTAMP = "event_timestamp"

# Feast type -> the DuckDB types a Parquet column may have for it.
_DUCKDB_TYPES = {
    Int32: {"INTEGER", "SMALLINT", "TINYINT"},
    Int64: {"BIGINT", "INTEGER", "SMALLINT", "TINYINT"},
    Float32: {"FLOAT"},
    Float64: {"DOUBLE", "FLOAT"},
    String: {"VARCHAR"},
    Bytes: {"BLOB"},
    Bool: {"BOOLEAN"},
    UnixTimestamp: {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"},
    Array(Float32): {"FLOAT[]"},
    Array(Float64): {"DOUBLE[]", "FLOAT[]"},
    Array(Int32): {"INTEGER[]"},
    Array(Int64): {"BIGINT[]", "INTEGER[]"},
    Array(String): {"VARCHAR[]"},
    Array(Bool): {"BOOLEAN[]"},
}
_TIMESTAMP_TYPES = _DUCKDB_TYPES[UnixTimestamp] | {"DATE"}


class TrainingSetError(ValueError):
    """A training set cannot be built from these inputs; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class ViewPlan:
    """How to read one feature view's source and join it."""

    name: str  # the view's name in feature references
    path: str  # absolute path of the Parquet file or directory
    columns: dict[str, str]  # name used in the join -> column in the Parquet files (Feast's field mapping)
    join_keys: dict[str, str]  # source join key -> entity column
    timestamp: str
    created: str | None
    ttl: timedelta | None  # None: rows never expire
    features: tuple[str, ...]  # source feature names, in output order
    outputs: tuple[str, ...]  # output column names, aligned with ``features``


@dataclass(frozen=True)
class JoinPlan:
    """Every view a training set joins, in Feast's output order."""

    views: tuple[ViewPlan, ...]

    @property
    def outputs(self) -> list[str]:
        """The feature columns of the result, in order."""
        return [name for view in self.views for name in view.outputs]

    @property
    def entity_keys(self) -> tuple[str, ...]:
        """The entity columns the views join on, in order of first use."""
        return tuple(dict.fromkeys(key for view in self.views for key in view.join_keys.values()))


def resolve_plan(store: FeatureStore, features: list[str] | str, *, full_feature_names: bool = False) -> JoinPlan:
    """The join plan of ``features`` (``view:feature`` references or a feature-service name) in ``store``."""
    wanted = _feature_service(store, features) if isinstance(features, str) else list(features)
    if not wanted:
        raise TrainingSetError("no features requested: pass `view:feature` references or a feature service name")
    for ref in wanted if isinstance(wanted, list) else []:  # a service's references come from the registry
        if not isinstance(ref, str) or ref.count(":") != 1:
            raise TrainingSetError(f"feature reference {ref!r} is not of the form `view:feature`")
    try:
        refs = utils._get_features(store.registry, store.project, wanted, allow_cache=True)
        views, on_demand = utils._get_feature_views_to_use(store.registry, store.project, wanted, allow_cache=True)
        if on_demand:
            names = ", ".join(v.name for v in on_demand)
            raise TrainingSetError(f"on-demand feature views are not supported: {names}")
        _check_refs(refs, views)
        grouped, _ = utils._group_feature_refs(refs, views, on_demand)
    except (FeatureViewNotFoundException, FeastObjectNotFoundException) as error:
        raise TrainingSetError(f"{error}; `feast feature-views list` shows the views of this repo") from None
    try:
        utils._validate_feature_refs(refs, full_feature_names)
    except Exception as error:  # Feast raises FeatureNameCollisionError, a plain Exception subclass
        raise TrainingSetError(f"{error}") from None
    plans = []
    for view, _ in grouped:
        plans.append(_view_plan(view, refs, full_feature_names))
        _check_source(plans[-1], view)
    return JoinPlan(tuple(plans))


def _feature_service(store: FeatureStore, name: str) -> FeatureService:
    try:
        return store.get_feature_service(name)
    except FeastObjectNotFoundException:
        known = ", ".join(sorted(s.name for s in store.list_feature_services())) or "none"
        raise TrainingSetError(f"unknown feature service {name!r}; this repo has: {known}") from None


def _check_refs(refs: list[str], views: list[FeatureView]) -> None:
    schema = {view.projection.name_to_use(): {f.name for f in view.features} for view in views}
    for ref in refs:
        view, feature = ref.split(":")
        if feature not in schema.get(view, ()):
            raise TrainingSetError(
                f"feature view {view!r} has no feature {feature!r}; `feast feature-views describe {view}` lists them"
            )


def _view_plan(view: FeatureView, refs: list[str], full_feature_names: bool) -> ViewPlan:
    source = view.batch_source
    if not isinstance(source, FileSource) or not isinstance(source.file_format, ParquetFormat | None):
        raise TrainingSetError(
            f"feature view {view.name!r} reads {type(source).__name__}; training sets read Parquet FileSources only"
        )
    prefix = view.projection.name_to_use()
    features = tuple(ref.split(":")[1] for ref in refs if ref.startswith(f"{prefix}:"))
    base = view.projection.name_alias or view.name
    renamed = {new: old for old, new in source.field_mapping.items()}
    join_keys = view.projection.join_key_map or {c.name: c.name for c in view.entity_columns}
    used = [*join_keys, source.timestamp_field, source.created_timestamp_column, *features]
    return ViewPlan(
        name=prefix,
        path=source.path if "://" in source.path else os.path.abspath(source.path),
        columns={name: renamed.get(name, name) for name in dict.fromkeys(c for c in used if c)},
        join_keys=dict(join_keys),
        timestamp=source.timestamp_field,
        created=source.created_timestamp_column or None,
        ttl=view.ttl or None,
        features=features,
        outputs=tuple(f"{base}__{f}" for f in features) if full_feature_names else features,
    )


def _describe(plan: ViewPlan) -> dict[str, str]:
    """Column name -> DuckDB type of the view's Parquet source, as DuckDB reads it."""
    path = Path(plan.path)
    if "://" not in plan.path and not (path.is_file() or any(path.rglob("*.parquet"))):
        raise TrainingSetError(
            f"feature view {plan.name!r}: no Parquet data at {plan.path}; build the offline store first "
            f"(`propensity features build`)"
        )
    if "://" not in plan.path:
        try:
            check_parquet_files(path, fix="rebuild it (`propensity features build` rewrites whole months)")
        except DamagedFileError as error:
            raise TrainingSetError(f"feature view {plan.name!r}: {error}") from None
    query = "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))"
    try:
        return dict(duckdb.execute(query, [[plan.path]]).fetchall())
    except duckdb.Error as error:
        raise TrainingSetError(f"feature view {plan.name!r}: cannot read {plan.path}: {error}") from None


def _check_source(plan: ViewPlan, view: FeatureView) -> None:
    """Refuse a source that is missing or whose columns disagree with the feature view's schema."""
    found = _describe(plan)
    for column in plan.columns.values():
        if column not in found:
            raise TrainingSetError(
                f"feature view {plan.name!r}: column {column!r} is missing from {plan.path} "
                f"(it has {', '.join(sorted(found))}); rebuild the source or fix the view's schema"
            )
    for name in (plan.timestamp, plan.created):
        if name and found[plan.columns[name]] not in _TIMESTAMP_TYPES:
            raise TrainingSetError(
                f"feature view {plan.name!r}: timestamp column {plan.columns[name]!r} in {plan.path} is "
                f"{found[plan.columns[name]]}, not a timestamp"
            )
    declared = {f.name: f.dtype for f in view.features}
    for feature in plan.features:
        column, allowed = plan.columns[feature], _DUCKDB_TYPES.get(declared[feature])
        if allowed is not None and found[column] not in allowed:
            raise TrainingSetError(
                f"feature view {plan.name!r}: feature {feature!r} is declared {declared[feature]} but column "
                f"{column!r} in {plan.path} is {found[column]}; rebuild the source or fix the view's schema"
            )
