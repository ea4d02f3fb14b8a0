"""Governance: the offline store must match the Feast definitions, and features should carry information."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from feast import FeatureStore, FeatureView
from feast.types import Array, Float32, Float64, Int32, Int64, String

from propensity.config import Workspace
from propensity.datagen.schema import TIMESTAMP
from propensity.features.offline_store import OfflineStore
from propensity.storage import DamagedFileError

ARROW_TYPES = {Int32: pa.int32(), Int64: pa.int64(), Float32: pa.float32(), Float64: pa.float64(), String: pa.string()}


@dataclass
class CheckReport:
    """Schema problems (fatal), uninformative features (warnings) and views without rows yet found by
    ``check_store``."""

    problems: list[str] = field(default_factory=list)
    all_null: list[str] = field(default_factory=list)
    constant: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)  # e.g. the scores view before the first `propensity score`
    views_checked: int = 0
    features_checked: int = 0


def _expected_columns(view: FeatureView) -> dict[str, pa.DataType]:
    columns = {key: pa.int64() for key in view.join_keys}
    columns[view.batch_source.timestamp_field] = TIMESTAMP
    if view.batch_source.created_timestamp_column:
        columns[view.batch_source.created_timestamp_column] = TIMESTAMP
    for feature in view.features:
        dtype = feature.dtype
        columns[feature.name] = pa.list_(pa.float32()) if isinstance(dtype, Array) else ARROW_TYPES[dtype]
    return columns


def check_store(store: FeatureStore, ws: Workspace) -> CheckReport:
    """Compare every registered feature view with its offline dataset in ``ws`` (registered where the workspace
    keeps it: on disk, or on its object store, a mirror of the files on disk); profile its latest snapshot."""
    report = CheckReport()
    offline = OfflineStore(ws)
    for view in sorted(store.list_feature_views(), key=lambda v: v.name):
        if view.batch_source.path != offline.view_location(view.name):
            report.problems.append(
                f"{view.name}: registered at {view.batch_source.path}, but this workspace keeps it at "
                f"{offline.view_location(view.name)}; run `propensity features apply`"
            )
            continue
        path = offline.view_dir(view.name)
        try:
            offline.check_views([view.name])
        except DamagedFileError as error:  # a month or file missing (MissingDataError), or a file damaged
            report.problems.append(str(error))
            continue
        files = sorted(path.rglob("*.parquet")) if path.is_dir() else []
        report.views_checked += 1
        report.features_checked += len(view.features)
        if not files:
            report.problems.append(f"{view.name}: no Parquet files in {path}; run `propensity features build`")
            continue
        expected = _expected_columns(view)
        for file in files:
            actual = ds.dataset(file).schema
            for name, dtype in expected.items():
                if name not in actual.names:
                    report.problems.append(f"{view.name}: column {name!r} is missing from {file}")
                elif not actual.field(name).type.equals(dtype):
                    report.problems.append(
                        f"{view.name}: column {name!r} is {actual.field(name).type} in {file}, "
                        f"the definition says {dtype}"
                    )
            for name in actual.names:
                if name not in expected:
                    report.problems.append(f"{view.name}: column {name!r} in {file} is not in the definition")
        if not report.problems:
            _profile_latest(view, files, report)
    return report


def _profile_latest(view: FeatureView, files: list[Path], report: CheckReport) -> None:
    """Record the features that are all null, or hold one value, in the view's latest snapshot; or the view, when
    it has no rows yet."""
    if sum(pq.read_metadata(f).num_rows for f in files) == 0:
        report.empty.append(view.name)
        return
    scalar = [f.name for f in view.features if not isinstance(f.dtype, Array)]
    if not scalar:
        return
    con = duckdb.connect()
    paths = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    ts = view.batch_source.timestamp_field
    con.execute(
        f"CREATE TEMP TABLE latest AS SELECT * FROM read_parquet([{paths}]) "
        f"WHERE {ts} = (SELECT max({ts}) FROM read_parquet([{paths}]))"
    )
    stats = ", ".join(f'count("{n}"), min("{n}") = max("{n}")' for n in scalar)
    values = con.execute(f"SELECT {stats} FROM latest").fetchall()[0]
    for i, name in enumerate(scalar):
        non_null, single_value = values[2 * i], values[2 * i + 1]
        if non_null == 0:
            report.all_null.append(f"{view.name}:{name}")
        elif single_value:
            report.constant.append(f"{view.name}:{name}")
