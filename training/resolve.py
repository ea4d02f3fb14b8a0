"""Feature references resolved through a Feast repo into a :class:`~training.plan.JoinPlan`.

Resolution goes through Feast's own registry and reference grouping, so the views, the features and their
column order are exactly those ``FeatureStore.get_historical_features`` would use. Every source is checked
before any work starts: it must be Parquet on disk and its columns must agree with the view's schema.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import duckdb
import pyarrow as pa
from feast import FeatureService, FeatureStore, FeatureView, FileSource, utils
from feast.data_format import ParquetFormat
from feast.errors import FeastObjectNotFoundException, FeatureViewNotFoundException
from feast.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

from propensity import duck
from propensity.features.manifest import check_published
from propensity.storage import DamagedFileError, check_parquet_files, sql_identifier
from training.plan import JoinPlan, TrainingSetError, ViewPlan
from training.sources import footer, parquet_files

# Feast type -> the DuckDB types a Parquet column may have for it.
_DUCKDB_TYPES = {
    Int32: {"INTEGER", "SMALLINT", "TINYINT"},
    Int64: {"BIGINT", "INTEGER", "SMALLINT", "TINYINT"},
    Float32: {"FLOAT"},
    Float64: {"DOUBLE", "FLOAT"},
    String: {"VARCHAR"},
    Bytes: {"BLOB"},
    Bool: {"BOOLEAN"},
    UnixTimestamp: {
        "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMP_NS",
        "TIMESTAMPTZ_NS",
        "TIMESTAMP_MS",
        "TIMESTAMP_S",
    },
    Array(Float32): {"FLOAT[]"},
    Array(Float64): {"DOUBLE[]", "FLOAT[]"},
    Array(Int32): {"INTEGER[]"},
    Array(Int64): {"BIGINT[]", "INTEGER[]"},
    Array(String): {"VARCHAR[]"},
    Array(Bool): {"BOOLEAN[]"},
}
_TIMESTAMP_TYPES = _DUCKDB_TYPES[UnixTimestamp] | {"DATE"}


def resolve_plan(store: FeatureStore, features: list[str] | str, *, full_feature_names: bool = False) -> JoinPlan:
    """The join plan of ``features`` (``view:feature`` references or a feature-service name) in ``store``."""
    wanted = _feature_service(store, features) if isinstance(features, str) else list(features)
    if not wanted:
        raise TrainingSetError("no features requested: pass `view:feature` references or a feature service name")
    for ref in wanted if isinstance(wanted, list) else []:  # a service's references come from the registry
        if not isinstance(ref, str) or ref.count(":") != 1:
            raise TrainingSetError(f"feature reference {ref!r} is not of the form `view:feature`")
    try:
        refs = _service_refs(wanted) if isinstance(wanted, FeatureService) else wanted
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
    return JoinPlan(tuple(_view_plan(view, refs, full_feature_names) for view, _ in grouped))


def _feature_service(store: FeatureStore, name: str) -> FeatureService:
    try:
        return store.get_feature_service(name)
    except FeastObjectNotFoundException:
        known = ", ".join(sorted(s.name for s in store.list_feature_services()))
        if not known:
            raise TrainingSetError(
                f"the Feast registry has no feature services yet; run `propensity features apply` first (it "
                f"registers {name!r})"
            ) from None
        raise TrainingSetError(f"unknown feature service {name!r}; this repo has: {known}") from None


def _service_refs(service: FeatureService) -> list[str]:
    """The feature references of a service, as Feast's ``utils._get_features`` lists them (without fetching the
    service from the registry a second time)."""
    return [f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features]


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
    path = source.path if "://" in source.path else os.path.abspath(source.path)
    columns = {name: renamed.get(name, name) for name in dict.fromkeys(c for c in used if c)}
    outputs = tuple(f"{base}__{f}" for f in features) if full_feature_names else features
    files = _files(prefix, path)
    found = _check_source(prefix, view, files, columns, features)
    schema = _output_schema(found, [columns[f] for f in features], outputs)
    return ViewPlan(
        name=prefix,
        path=path,
        files=files,
        columns=columns,
        join_keys=dict(join_keys),
        timestamp=source.timestamp_field,
        created=source.created_timestamp_column or None,
        ttl=view.ttl or None,
        features=features,
        outputs=outputs,
        output_schema=schema,
        row_bytes=_row_bytes(files[0], [columns[f] for f in features], schema),
        key_types={key: found[columns[key]] for key in join_keys},
    )


def _files(name: str, path: str) -> tuple[str, ...]:
    """The Parquet files of a view's source, checked to be whole."""
    files = parquet_files(path)
    if not files:
        raise TrainingSetError(
            f"feature view {name!r}: no Parquet data at {path}; build the offline store first "
            f"(`propensity features build`)"
        )
    if "://" not in path:
        try:
            fix = "rebuild it (`propensity features build` rewrites whole months)"
            check_published(Path(path), fix=fix)
            check_parquet_files(Path(path), fix=fix)
        except DamagedFileError as error:
            raise TrainingSetError(f"feature view {name!r}: {error}") from None
    return files


def _connection() -> duckdb.DuckDBPyConnection:
    """A cursor, in UTC, on this process's DuckDB connection for plans (connecting costs about 20 ms)."""
    return duck.in_utc(_shared_connection().cursor())


@functools.cache
def _shared_connection() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _describe(name: str, path: str, files: tuple[str, ...]) -> dict[str, str]:
    """Column name -> DuckDB type of the view's Parquet source, as DuckDB reads it (from a URI, as DuckDB reads
    the first file's Arrow schema: DuckDB reads URIs only through an extension it would download)."""
    query = "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))"
    try:
        if "://" in path:
            relation = _connection().from_arrow(footer(files[0]).schema.empty_table())
            return {column: str(type_) for column, type_ in zip(relation.columns, relation.types, strict=True)}
        return dict(_connection().execute(query, [list(files)]).fetchall())
    except (duckdb.Error, OSError) as error:
        raise TrainingSetError(f"feature view {name!r}: cannot read {path}: {error}") from None


def _output_schema(found: dict[str, str], columns: list[str], outputs: tuple[str, ...]) -> pa.Schema:
    """The Arrow types DuckDB gives ``columns`` (of DuckDB types ``found``), under ``outputs``: what Feast's
    DuckDB store returns for them."""
    distinct = list(dict.fromkeys(found[c] for c in columns))
    select = ", ".join(f"NULL::{type_} AS {sql_identifier(str(i))}" for i, type_ in enumerate(distinct)) or "1"
    arrow = _connection().sql(f"SELECT {select}").to_arrow_table().schema
    types = {type_: arrow.field(i).type for i, type_ in enumerate(distinct)}
    return pa.schema([(o, types[found[c]]) for c, o in zip(columns, outputs, strict=True)])


def _row_bytes(file: str, columns: list[str], schema: pa.Schema) -> int:
    """About how many bytes one output row of ``columns`` takes in memory: fixed-width types by their width,
    others by their uncompressed size per row in ``file``."""
    parsed = footer(file)
    meta, total = parsed.metadata, 0
    for column, field in zip(columns, schema, strict=True):
        if pa.types.is_primitive(field.type) and not pa.types.is_boolean(field.type):
            total += field.type.bit_width // 8
            continue
        chunks = parsed.chunks.get(column, [])
        stored = sum(
            meta.row_group(g).column(i).total_uncompressed_size for g in range(meta.num_row_groups) for i in chunks
        )
        total += 1 + stored // max(meta.num_rows, 1)
    return total


def _check_source(
    name: str, view: FeatureView, files: tuple[str, ...], columns: dict[str, str], features: tuple[str, ...]
) -> dict[str, str]:
    """Refuse a source whose columns disagree with the feature view's schema; the DuckDB types of its columns."""
    path = view.batch_source.path
    found = _describe(name, path, files)
    for column in columns.values():
        if column not in found:
            raise TrainingSetError(
                f"feature view {name!r}: column {column!r} is missing from {path} "
                f"(it has {', '.join(sorted(found))}); rebuild the source or fix the view's schema"
            )
    stamps = [view.batch_source.timestamp_field, view.batch_source.created_timestamp_column]
    for stamp in filter(None, stamps):
        if found[columns[stamp]] not in _TIMESTAMP_TYPES:
            raise TrainingSetError(
                f"feature view {name!r}: timestamp column {columns[stamp]!r} in {path} is "
                f"{found[columns[stamp]]}, not a timestamp"
            )
    declared = {f.name: f.dtype for f in view.features}
    for feature in features:
        column, allowed = columns[feature], _DUCKDB_TYPES.get(declared[feature])
        if allowed is not None and found[column] not in allowed:
            raise TrainingSetError(
                f"feature view {name!r}: feature {feature!r} is declared {declared[feature]} but column "
                f"{column!r} in {path} is {found[column]}; rebuild the source or fix the view's schema"
            )
    return found
