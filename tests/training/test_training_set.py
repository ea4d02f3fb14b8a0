"""Training sets equal Feast's own ``get_historical_features`` on randomized data covering every edge case."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import ray
from feast import FeatureStore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.assertions import assert_same_rows
from tests.training.cases import make_repo, write_rows
from training.training_set import build_training_set, write_training_set

REFS = ["orders:spend", "promos:visits", "orders:order_count", "store_visits:embedding", "store_visits:visits"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, ray_session) -> tuple[Path, FeatureStore]:
    root = tmp_path_factory.mktemp("cases") / "repo"
    return root, make_repo(root)


def collect(dataset: ray.data.Dataset) -> pa.Table:
    """A training set's rows on the driver (tests only: the data is tiny)."""
    return pa.concat_tables(ray.get(dataset.to_arrow_refs()))


def as_input(entities: pd.DataFrame, kind: str, tmp_path: Path):
    """The entity rows as each accepted input type."""
    if kind == "arrow":
        return pa.Table.from_pandas(entities, preserve_index=False)
    if kind == "ray":
        return ray.data.from_arrow(pa.Table.from_pandas(entities, preserve_index=False))
    if kind == "parquet":
        path = tmp_path / "entities"
        path.mkdir(exist_ok=True)
        pq.write_table(pa.Table.from_pandas(entities, preserve_index=False), path / "part-0.parquet")
        return path
    return entities


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31),
    batch_rows=st.sampled_from([5, 16, 10_000]),
    kind=st.sampled_from(["pandas", "arrow", "ray", "parquet"]),
    streaming=st.booleans(),
    naive=st.booleans(),
    full_feature_names=st.booleans(),
    by_service=st.booleans(),
    presorted=st.booleans(),
)
def test_equals_feast_get_historical_features(
    repo, tmp_path: Path, seed: int, batch_rows: int, kind: str, streaming: bool, naive: bool,
    full_feature_names: bool, by_service: bool, presorted: bool,
) -> None:  # fmt: skip
    root, store = repo
    entities = write_rows(root, seed)
    if naive:
        entities["event_timestamp"] = entities["event_timestamp"].dt.tz_localize(None)
    if by_service:
        features, feast_features = "everything", store.get_feature_service("everything")
    else:
        # Two views with a feature called `visits`: only valid with full feature names.
        features = feast_features = REFS if full_feature_names else REFS[:-1]
    expected = store.get_historical_features(entities, feast_features, full_feature_names=full_feature_names).to_arrow()
    got = build_training_set(
        root, as_input(entities, kind, tmp_path), features, full_feature_names=full_feature_names,
        batch_rows=batch_rows, presorted=presorted,  # unsorted rows only cost reading more: still equal
        streaming=streaming,
    )  # fmt: skip
    assert_same_rows(expected, collect(got))


def test_every_edge_case_occurs_in_the_cases(repo) -> None:
    """The randomized cases really contain what the equality test claims to cover (checked on Feast's output)."""
    root, store = repo
    seen: dict[str, int] = dict.fromkeys(["no feature row at all", "before any feature row", "ttl expired",
                                          "exact ttl edge", "created-timestamp tie", "null created in a tie",
                                          "duplicate entity rows"], 0)  # fmt: skip
    for seed in range(4):
        entities = write_rows(root, seed)
        orders = pq.read_table(root / "data" / "orders").to_pandas()
        joined = store.get_historical_features(entities, ["orders:spend"]).to_df()
        for row in entities.itertuples():
            mine = orders[orders.customer_id == row.customer_id]
            past = mine[mine.event_timestamp <= row.event_timestamp]
            seen["no feature row at all"] += mine.empty
            seen["before any feature row"] += not mine.empty and past.empty
            if not past.empty:
                latest = past.event_timestamp.max()
                age = row.event_timestamp - latest
                seen["ttl expired"] += age > pd.Timedelta(days=3)
                seen["exact ttl edge"] += age == pd.Timedelta(days=3)
                tie = past[past.event_timestamp == latest]
                seen["created-timestamp tie"] += len(tie) > 1
                seen["null created in a tie"] += len(tie) > 1 and tie.created.isna().any()
        seen["duplicate entity rows"] += entities.duplicated().sum()
        assert len(joined) == len(entities)
    assert all(count > 0 for count in seen.values()), seen


def test_written_training_set_reads_back_equal(repo, tmp_path: Path) -> None:
    root, store = repo
    entities = write_rows(root, 5)
    dataset = build_training_set(root, entities, "everything", batch_rows=20)
    path = write_training_set(dataset, tmp_path / "ts")
    expected = store.get_historical_features(entities, store.get_feature_service("everything")).to_arrow()
    assert_same_rows(expected, pq.read_table(path).select(expected.column_names).cast(expected.schema))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ts"]  # no staging directory left behind


def test_sources_on_an_object_store_equal_feast(repo, s3_bucket: str, tmp_path: Path) -> None:
    """Sources on S3 (a local S3-compatible server), registered with Feast's Dask offline store: the join reads
    them through pyarrow's S3 file system and equals Feast's DuckDB store on the same rows on disk. (Feast's Dask
    store is no reference here: its ``get_historical_features`` drops entity rows of these cases, from disk as
    from S3.)"""
    local_root, local_store = repo
    entities = write_rows(local_root, seed=5)
    fs, bucket = pafs.FileSystem.from_uri(s3_bucket)
    pafs.copy_files(str(local_root / "data"), f"{bucket}/{tmp_path.name}", destination_filesystem=fs)
    remote_root = tmp_path / "repo"
    remote_store = make_repo(remote_root, data=f"{s3_bucket}/{tmp_path.name}", offline_store="dask")
    assert all(view.batch_source.path.startswith("s3://") for view in remote_store.list_feature_views())

    got = collect(build_training_set(remote_root, entities, "everything"))
    expected = local_store.get_historical_features(entities, local_store.get_feature_service("everything"))
    assert_same_rows(expected.to_arrow(), got)
