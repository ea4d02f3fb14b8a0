"""The offline store with Feast: apply, materialize and online reads (SQLite and a real Redis), idempotent
rebuilds, and the governance check."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feast import FeatureStore
from typer.testing import CliRunner

from propensity.cli import app
from propensity.config import Workspace
from propensity.features.catalog import ONLINE_PROFILE_VIEWS
from propensity.features.feast_cli import online_view_options, run_feast
from propensity.features.governance import check_store
from propensity.features.offline_store import OfflineStore
from propensity.features.pipeline import BuildConfig, build_features
from tests.support.feature_store import feast_materialize_in_two_steps, latest_offline, read_view
from tests.support.servers import free_port
from tests.support.workspaces import copy_workspace

runner = CliRunner()


@pytest.fixture(scope="module")
def ws(small_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A copy of the small workspace (400 customers over nine months, not scored), materialized into SQLite."""
    ws = copy_workspace(small_workspace, tmp_path_factory.mktemp("store") / "ws")
    feast_materialize_in_two_steps(ws)  # Feast's own CLI, every online view: the scores view has no rows yet
    return ws


def _store(ws: Workspace, yaml: str = "feature_store.yaml") -> FeatureStore:
    os.environ["PROPENSITY_WORKDIR"] = str(ws.root)
    return FeatureStore(repo_path=str(ws.feature_repo), fs_yaml_file=ws.feature_repo / yaml)


def _assert_online_equalslatest_offline(store: FeatureStore, ws: Workspace) -> None:
    service = store.get_feature_service("online_profile")
    customers = latest_offline(ws, "customer_profile").index[:60].tolist()
    online = (
        store.get_online_features(features=service, entity_rows=[{"customer_id": c} for c in customers])
        .to_df()
        .set_index("customer_id")
    )
    compared = 0
    for view in ONLINE_PROFILE_VIEWS:
        offline = latest_offline(ws, view)
        for name in (c for c in offline.columns if c not in ("event_timestamp", "created_at")):
            for customer in customers:
                want = offline[name].get(customer)
                got = online.loc[customer, name]
                if want is None or (isinstance(want, float) and np.isnan(want)):
                    assert got is None or pd.isna(got), (view, name, customer)
                else:
                    assert got == pytest.approx(want) if isinstance(want, float) else got == want, (view, name)
                compared += 1
    assert compared > 1000


def test_feast_lists_every_view_and_both_services(ws: Workspace) -> None:
    store = _store(ws)
    views = {v.name for v in store.list_feature_views()}
    assert len(views) == 14 and "customer_propensity" in views  # 13 feature views and the models' scores
    assert sum(len(v.features) for v in store.list_feature_views()) >= 2000
    services = {s.name: s for s in store.list_feature_services()}
    assert {"propensity_v1", "online_profile"} <= set(services)
    assert len(services["propensity_v1"].feature_view_projections) == 13  # scores are not trained on by default
    orders = store.get_feature_view("category_orders")
    assert orders.ttl.days == 400 and orders.tags["family"] == "purchases" and not orders.online
    assert orders.features[0].description


def test_online_store_serves_the_latest_offline_snapshot(ws: Workspace) -> None:
    _assert_online_equalslatest_offline(_store(ws), ws)


def test_every_view_has_a_schema_file_with_its_data_files_schema(ws: Workspace) -> None:
    views = [v.name for v in _store(ws).list_feature_views()]
    offline = OfflineStore(ws)
    for view in views:
        schema_file = offline.schema_file(view)
        assert pq.read_metadata(schema_file).num_rows == 0, view
        for file in offline.view_dir(view).glob("*/*.parquet"):
            assert pq.read_schema(file).equals(pq.read_schema(schema_file)), file
    assert not list(offline.view_dir("customer_propensity").glob("*/*.parquet"))  # not scored: the schema file alone
    assert len(views) == 14


def test_the_scores_view_has_no_rows_before_scoring(ws: Workspace) -> None:
    store = _store(ws)
    scores = [f"customer_propensity:{f.name}" for f in store.get_feature_view("customer_propensity").features]
    assert read_view(ws, "customer_propensity").columns.tolist()[3:] == [s.split(":")[1] for s in scores]
    profile = latest_offline(ws, "customer_profile").head(20)
    online = store.get_online_features(scores, [{"customer_id": c} for c in profile.index]).to_df()
    assert len(online) == len(profile) and online.drop(columns="customer_id").isna().all().all()
    entities = pd.DataFrame({"customer_id": profile.index, "event_timestamp": profile.event_timestamp.max()})
    joined = store.get_historical_features(entities, [*scores, "customer_profile:tenure_days"]).to_df()
    assert joined[[s.split(":")[1] for s in scores]].isna().all().all()
    assert dict(zip(joined.customer_id, joined.tenure_days, strict=True)) == profile.tenure_days.to_dict()


def test_offline_only_views_are_not_materialized(ws: Workspace) -> None:
    store = _store(ws)
    customer = int(latest_offline(ws, "category_orders").index[0])
    values = store.get_online_features(
        features=["category_orders:orders_photo_books_365d"], entity_rows=[{"customer_id": customer}]
    ).to_dict()
    assert values["orders_photo_books_365d"] == [None]


@pytest.fixture()
def redis_server() -> Iterator[str]:
    """A real redis-server on a free loopback port, without persistence; stopped after the test."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server must be installed (scripts/test.sh installs it)"
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_redis_online_store(ws: Workspace, redis_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPENSITY_REDIS", redis_server)
    redis_args = ["-f", "feature_store.redis.yaml"]
    assert run_feast(ws, [*redis_args, "apply"]).returncode == 0
    span = ["2000-01-01T00:00:00", "2030-01-01T00:00:00"]
    assert run_feast(ws, [*redis_args, "materialize", *online_view_options(), *span]).returncode == 0
    store = _store(ws, "feature_store.redis.yaml")
    assert store.config.online_store.type == "redis"
    _assert_online_equalslatest_offline(store, ws)


def _frames(ws: Workspace, view: str) -> pd.DataFrame:
    return read_view(ws, view).drop(columns="created_at").sort_values(["customer_id", "event_timestamp"])


def test_rebuilding_a_date_replaces_it_and_a_new_date_is_added(ws: Workspace) -> None:
    before = _frames(ws, "category_cart")
    dates = sorted(before.event_timestamp.unique())
    build_features(ws, as_of=pd.Timestamp(dates[-3]).date())  # an existing date, mid-month
    after = _frames(ws, "category_cart")
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))
    new_day = date(2024, 10, 2)
    month = OfflineStore(ws).view_dir("category_cart") / "2024-10"
    full_build = _inodes(month)
    build_features(ws, as_of=new_day)
    grown = _frames(ws, "category_cart")
    assert set(grown.event_timestamp.unique()) == {*dates, pd.Timestamp(new_day, tz="UTC")}
    pd.testing.assert_frame_equal(
        grown[grown.event_timestamp != pd.Timestamp(new_day, tz="UTC")].reset_index(drop=True),
        before.reset_index(drop=True),
    )
    # the new date has files of its own; the month's other files were linked, not rewritten
    dated = _inodes(month)
    assert set(dated) - set(full_build) == {f"bucket-{b:04d}.{new_day}.parquet" for b in (0, 1)}
    assert dated.items() >= full_build.items()
    build_features(ws, as_of=new_day)  # again: the date's files are replaced, the rows stay the same
    again = _inodes(month)
    assert set(again) == set(dated) and all(again[n] != dated[n] for n in set(dated) - set(full_build))
    pd.testing.assert_frame_equal(_frames(ws, "category_cart"), grown)
    assert not list((ws.offline_dir / ".staging").glob("*"))  # nothing left half-written


def _inodes(directory: Path) -> dict[str, int]:
    return {file.name: file.stat().st_ino for file in directory.glob("*.parquet")}  # the manifest is rewritten


def test_bucket_layout_is_fixed_at_the_first_build(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="laid out in 2 buckets, not 3"):
        build_features(ws, config=BuildConfig(buckets=3))
    files = list(OfflineStore(ws).view_dir("customer_rfm").glob("*/*.parquet"))
    assert {f.name.split(".")[0] for f in files} == {"bucket-0000", "bucket-0001"}
    for file in files:
        ids = pq.read_table(file, columns=["customer_id"]).column("customer_id").to_numpy()
        assert len(set(ids % 2)) == 1  # one slice of customers per file
        assert (
            pq.read_table(file)
            .sort_by([("event_timestamp", "ascending"), ("customer_id", "ascending")])
            .equals(pq.read_table(file))
        )


def test_check_passes_and_reports_uninformative_features(ws: Workspace) -> None:
    report = check_store(_store(ws), ws)
    assert report.problems == []
    assert report.views_checked == 14 and report.features_checked >= 2000  # 13 feature views and the scores
    assert report.empty == ["customer_propensity"]  # not scored yet
    latest = read_view(ws, "category_email")
    latest = latest[latest.event_timestamp == latest.event_timestamp.max()]
    constant = [n.split(":")[1] for n in report.constant if n.startswith("category_email:")]
    assert constant, "a small workspace has rare categories with no recent emails"
    for name in constant:
        assert latest[name].nunique() == 1
    varying = [c for c in latest.columns if c.startswith("email_") and c not in constant]
    assert varying and all(latest[c].nunique() > 1 for c in varying)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.drop_columns(["orders_mugs_7d"]), "column 'orders_mugs_7d' is missing"),
        (lambda t: t.append_column("surprise", pa.array([1] * t.num_rows)), "column 'surprise'"),
        (
            lambda t: t.set_column(
                t.schema.get_field_index("orders_mugs_7d"),
                "orders_mugs_7d",
                t.column("orders_mugs_7d").cast(pa.float64()),
            ),
            "column 'orders_mugs_7d' is double",
        ),
    ],
    ids=["missing", "extra", "type"],
)
def test_check_names_the_column_that_disagrees(ws: Workspace, mutate, message: str) -> None:
    victim = sorted(OfflineStore(ws).view_dir("category_orders").rglob("*.parquet"))[0]
    original = victim.read_bytes()
    try:
        pq.write_table(mutate(pq.read_table(victim)), victim)
        result = runner.invoke(app, ["features", "check", "--workdir", str(ws.root)])
        assert result.exit_code == 1
        assert message in result.output and "category_orders" in result.output
    finally:
        victim.write_bytes(original)


def test_build_refuses_bad_input(tmp_path: Path) -> None:
    empty = runner.invoke(app, ["features", "build", "--workdir", str(tmp_path / "none")])
    assert empty.exit_code == 2 and "run `propensity datagen` first" in empty.output
    bad_date = runner.invoke(app, ["features", "build", "--workdir", str(tmp_path), "--as-of", "2024-02-30"])
    assert bad_date.exit_code == 2 and "day is out of range" in bad_date.output
