"""The offline store mirrored to an object store (a local S3-compatible server), and the pipeline reading it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from feast import FeatureStore
from pydantic import ValidationError

from propensity.config import FEAST_YAML_ENV, OFFLINE_URI_ENV, Workspace
from propensity.features.catalog import ONLINE_PROFILE_VIEWS
from propensity.features.governance import check_store
from propensity.offline_mirror import MANIFEST, plan_sync, sync_offline
from propensity.stages import FeastOptions, Materialize
from propensity.storage import parquet_shape
from tests.support.mirror import local_tree, published, remote_tree, rewrite
from tests.support.workspaces import copy_workspace
from training.config import TrainingSetRequest
from training.joining import join_training_set


@pytest.fixture
def mirrored(tmp_path: Path, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """An active workspace whose offline store is mirrored to a prefix of its own in the bucket."""
    monkeypatch.setenv(OFFLINE_URI_ENV, f"{s3_bucket}/{tmp_path.name}")
    monkeypatch.setenv(FEAST_YAML_ENV, "feature_store.s3.yaml")
    return Workspace.resolve(tmp_path / "ws").activate()


def test_sync_uploads_what_changed_and_deletes_what_went(mirrored: Workspace) -> None:
    offline = mirrored.offline_dir
    for name, data in {
        "_layout.json": b"{}",
        "v/2024-01/bucket-0000.parquet": b"january",
        "v/2024-02/bucket-0000.parquet": b"february",
        ".staging/abc/v/2024-03/bucket-0000.parquet": b"staged, never published",
        ".build.lock": b"",
    }.items():
        (offline / name).parent.mkdir(parents=True, exist_ok=True)
        (offline / name).write_bytes(data)

    first = sync_offline(mirrored)
    assert (first.uploaded, first.deleted, first.bytes) == (3, 0, len(b"{}januaryfebruary"))
    assert remote_tree(mirrored.offline_uri).keys() == {*local_tree(offline), MANIFEST}
    assert sync_offline(mirrored).uploaded == 0  # nothing new: nothing sent

    rewrite(offline / "v/2024-01/bucket-0000.parquet", b"january, rebuilt")
    (offline / "v/2024-01/bucket-0000.2024-01-29.parquet").write_bytes(b"one more date")
    (offline / "v/2024-02/bucket-0000.parquet").unlink()
    second = sync_offline(mirrored)
    assert (second.uploaded, second.deleted, second.unchanged) == (2, 1, 1)
    assert published(mirrored.offline_uri) == local_tree(offline)


def test_a_sync_that_died_before_its_manifest_is_redone(mirrored: Workspace) -> None:
    """The manifest is written last: without it nothing remote is vouched for, so everything goes up again."""
    (mirrored.offline_dir / "v").mkdir(parents=True)
    (mirrored.offline_dir / "v" / "a.parquet").write_bytes(b"a")
    sync_offline(mirrored)
    fs, root = pafs.FileSystem.from_uri(mirrored.offline_uri)
    fs.delete_file(f"{root}/{MANIFEST}")
    rewrite(mirrored.offline_dir / "v" / "a.parquet", b"a")  # same bytes and size, another file
    assert sync_offline(mirrored).uploaded == 1


def test_plan_sync_sorts_names_into_added_replaced_and_deleted() -> None:
    local = {"new": (1, 1), "rebuilt": (2, 9), "same": (3, 3), "unvouched": (4, 4)}
    uploaded = {"rebuilt": (2, 2), "same": (3, 3), "gone": (5, 5)}
    plan = plan_sync(local, uploaded, remote={"rebuilt", "same", "unvouched", "gone"})
    assert (plan.added, plan.replaced, plan.deleted) == (["new"], ["rebuilt", "unvouched"], ["gone"])


def test_no_offline_uri_means_no_sync(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path)
    ws.offline_dir.mkdir()
    assert sync_offline(ws) is None


@pytest.mark.parametrize("uri", ["/mnt/lake/offline", "file:///mnt/lake", "gs://bucket/offline", "s3://", "s3:///x"])
def test_an_offline_uri_that_is_not_an_s3_uri_is_refused(tmp_path: Path, uri: str) -> None:
    with pytest.raises(ValidationError, match=r"not an object-store URI; give s3://<bucket>/<prefix>"):
        Workspace(root=tmp_path, offline_uri=uri)


def test_the_pipeline_reads_the_object_store_copy(
    small_workspace: Workspace, tmp_path: Path, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an offline URI, Feast's registry names the S3 copy, the training set is joined from it (the join over
    S3 equals Feast's: tests/training/test_training_set.py), and Feast's Dask store materializes the latest values
    from it. A file missing from the copy (a sync that died) is put back by the next reader."""
    uri = f"{s3_bucket}/{tmp_path.name}"
    monkeypatch.setenv(OFFLINE_URI_ENV, uri)
    monkeypatch.setenv(FEAST_YAML_ENV, "feature_store.s3.yaml")
    ws = copy_workspace(small_workspace, tmp_path / "ws")
    store = FeatureStore(repo_path=str(ws.feature_repo))
    assert store.config.offline_store.type == "dask"
    assert check_store(store, ws).problems == []
    sources = {view.batch_source.path for view in store.list_feature_views()}
    assert sources >= {f"{uri}/{view}" for view in ONLINE_PROFILE_VIEWS}
    stale = check_store(store, Workspace(root=ws.root)).problems  # the same workspace without the URI
    assert len(stale) == len(sources)
    assert all(f"registered at {uri}/" in problem for problem in stale)

    rows, columns = parquet_shape(join_training_set(ws, TrainingSetRequest("propensity_v1")))
    assert rows == pq.read_metadata(ws.labels_dir / "labels.parquet").num_rows and columns > 2000
    assert published(uri) == local_tree(ws.offline_dir)

    view = "customer_rfm"  # numbers only
    fs, root = pafs.FileSystem.from_uri(uri)
    lost = min(name for name in published(uri) if name.startswith(f"{view}/"))
    fs.delete_file(f"{root}/{lost}")
    Materialize().run(ws, FeastOptions(echo=False), lambda done, total: None)  # `propensity features materialize`
    assert published(uri) == local_tree(ws.offline_dir)

    latest = duckdb.sql(
        f"""SELECT * EXCLUDE (event_timestamp, created_at) FROM read_parquet('{ws.offline_dir / view}/*/*.parquet')
            QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY event_timestamp DESC, created_at DESC) = 1
            ORDER BY customer_id LIMIT 20"""
    ).to_arrow_table()
    features = [c for c in latest.column_names if c != "customer_id"]
    online = store.get_online_features(
        [f"{view}:{f}" for f in features], [{"customer_id": c} for c in latest.column("customer_id").to_pylist()]
    ).to_dict()
    for feature in features:
        assert online[feature] == latest.column(feature).to_pylist(), feature
