"""The offline store object: its layout, commits that show nothing before their renames and mirror after them,
and reads that mirror first (the object store is a local S3-compatible server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from propensity.config import Workspace
from propensity.features.manifest import MANIFEST, MissingDataError
from propensity.features.offline_store import OfflineStore
from propensity.offline_mirror import MANIFEST as MIRROR_MANIFEST
from propensity.storage import DamagedFileError, write_parquet

TABLE = pa.table({"customer_id": pa.array([1, 2], pa.int64())})


def _remote(store: OfflineStore) -> dict[str, bytes]:
    """The objects of the store's object-store copy and their bytes, the mirror's manifest aside."""
    fs, root = pafs.FileSystem.from_uri(store.ws.offline_uri)
    found = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    names = {info.path[len(root) + 1 :] for info in found if info.type == pafs.FileType.File} - {MIRROR_MANIFEST}
    return {name: fs.open_input_stream(f"{root}/{name}").read() for name in names}


def _local(store: OfflineStore) -> set[str]:
    """The names of the store's files a reader sees: hidden ones (staging, locks) aside."""
    return {
        p.relative_to(store.root).as_posix()
        for p in store.root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(store.root).parts)
    }


@pytest.fixture
def mirrored(tmp_path: Path, s3_bucket: str) -> OfflineStore:
    """A store whose workspace mirrors it to a prefix of its own in the bucket."""
    return OfflineStore(Workspace(root=tmp_path / "ws", offline_uri=f"{s3_bucket}/{tmp_path.name}"))


def test_the_layout_names_every_path(tmp_path: Path) -> None:
    store = OfflineStore(Workspace(root=tmp_path))
    offline = tmp_path / "offline"
    assert store.root == offline
    assert store.view_dir("customer_rfm") == offline / "customer_rfm"
    assert store.view_location("customer_rfm") == str(offline / "customer_rfm")  # no URI: Feast reads the workspace
    assert store.schema_file("customer_rfm") == offline / "customer_rfm" / "schema.parquet"
    assert store.layout_file == offline / "_layout.json"
    assert store.lock_file("build") == offline / ".build.lock"
    assert store.scratch == offline / ".staging"


def test_with_an_object_store_readers_read_the_copy_and_writers_the_workspace(tmp_path: Path) -> None:
    store = OfflineStore(Workspace(root=tmp_path, offline_uri="s3://lake/prefix/"))
    assert store.view_location("customer_rfm") == "s3://lake/prefix/customer_rfm"
    assert store.view_dir("customer_rfm") == tmp_path / "offline" / "customer_rfm"


def test_the_layout_loads_neither_arrow_duckdb_feast_nor_the_builder() -> None:
    code = "import sys, propensity.features.offline_store; print(' '.join(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    heavy = {"pyarrow", "duckdb", "feast", "ray", "propensity.features.pipeline", "propensity.offline_mirror"}
    assert not heavy & set(loaded)


def test_a_commit_shows_nothing_before_its_rename_and_mirrors_after_it(mirrored: OfflineStore) -> None:
    months = ("2024-01", "2024-02")
    with mirrored.commit() as commit:
        with commit.months(["v"], list(months)) as staging:
            for month in months:
                write_parquet(TABLE, staging / "v" / month / "bucket-0000.parquet")
            assert not mirrored.view_dir("v").exists()  # staged out of sight
        published = {f"v/{month}/{name}" for month in months for name in (MANIFEST, "bucket-0000.parquet")}
        assert _local(mirrored) == {"v/_manifest.json", *published}
        with commit.directory(mirrored.view_dir("scores") / "2024-02-05") as staging:
            write_parquet(TABLE, staging / "part-0.parquet")
            assert not mirrored.view_dir("scores").exists()
        commit.schema_files({"v": TABLE.schema})
        assert _remote(mirrored) == {}  # mirrored once, when the commit ends
    assert _remote(mirrored).keys() == _local(mirrored) >= {"scores/2024-02-05/part-0.parquet", "v/schema.parquet"}
    assert not list(mirrored.scratch.iterdir())


def test_a_failed_commit_leaves_the_published_data_and_mirrors_nothing(mirrored: OfflineStore) -> None:
    scores = mirrored.view_dir("scores") / "2024-02-05"
    with mirrored.commit() as commit, commit.directory(scores) as staging:
        write_parquet(TABLE, staging / "part-0.parquet")
    before = {p: p.read_bytes() for p in mirrored.root.rglob("*.parquet")}
    unmirrored = mirrored.view_dir("fresh") / "a.parquet"  # committed, its mirror not done yet
    unmirrored.parent.mkdir()
    unmirrored.write_bytes(b"a")
    with (
        pytest.raises(RuntimeError, match="killed"),
        mirrored.commit() as commit,
        commit.months(["v"], ["2024-01"]) as staging,
    ):
        write_parquet(TABLE, staging / "v" / "2024-01" / "bucket-0000.parquet")
        raise RuntimeError("killed")
    with (
        pytest.raises(RuntimeError, match="killed"),
        mirrored.commit() as commit,
        commit.directory(scores) as staging,
    ):
        write_parquet(TABLE.slice(0, 1), staging / "part-0.parquet")
        raise RuntimeError("killed")
    assert not mirrored.view_dir("v").exists()
    assert {p: p.read_bytes() for p in mirrored.root.rglob("*.parquet") if p != unmirrored} == before
    assert not list(mirrored.scratch.iterdir())
    assert _remote(mirrored).keys() == {"scores/2024-02-05/part-0.parquet"}


def test_a_schema_file_holding_the_schema_is_kept(tmp_path: Path) -> None:
    store = OfflineStore(Workspace(root=tmp_path))
    with store.commit() as commit:
        commit.schema_files({"v": TABLE.schema})
    written = store.schema_file("v").stat().st_ino
    with store.commit() as commit:
        commit.schema_files({"v": TABLE.schema})
    assert store.schema_file("v").stat().st_ino == written
    with store.commit() as commit:
        commit.schema_files({"v": TABLE.append_column("x", pa.array([0.5, 1.5])).schema})
    assert store.schema_file("v").stat().st_ino != written


def test_reading_mirrors_first(mirrored: OfflineStore) -> None:
    """What was committed without its mirror (a crash between the two) is on the object store once a reader
    opens the store."""
    month = mirrored.view_dir("v") / "2024-01"
    month.mkdir(parents=True)
    write_parquet(TABLE, month / "bucket-0000.parquet")
    assert _remote(mirrored) == {}
    assert mirrored.ready() is mirrored
    assert _remote(mirrored) == {"v/2024-01/bucket-0000.parquet": (month / "bucket-0000.parquet").read_bytes()}


def test_reading_refuses_a_damaged_view_before_mirroring_it(mirrored: OfflineStore) -> None:
    with mirrored.commit() as commit, commit.months(["v"], ["2024-01"]) as staging:
        write_parquet(TABLE, staging / "v" / "2024-01" / "bucket-0000.parquet")
    damaged = mirrored.view_dir("v") / "2024-01" / "bucket-0000.parquet"
    good = damaged.read_bytes()
    damaged.write_bytes(b"not parquet")
    with pytest.raises(DamagedFileError, match="is damaged"):
        mirrored.ready(["v"])
    assert _remote(mirrored)["v/2024-01/bucket-0000.parquet"] == good  # the damaged file stayed home
    damaged.unlink()
    with pytest.raises(MissingDataError, match="missing 1 file"):
        mirrored.check_views(["v"])
