"""A damaged offline file or a raw table whose schema changed: every command that would read it refuses with a
message naming the file and the fix, writes nothing, and works again once the data is rebuilt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from propensity.cli import app
from propensity.config import Workspace
from propensity.features.offline_store import OfflineStore
from propensity.features.pipeline import build_features
from tests.support.workspaces import copy_workspace

runner = CliRunner()


@pytest.fixture
def ws(small_workspace: Workspace, tmp_path: Path) -> Workspace:
    return copy_workspace(small_workspace, tmp_path / "ws")


def _invoke(ws: Workspace, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--workdir", str(ws.root)])
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def _files(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_a_truncated_offline_file_is_refused_then_a_rebuild_mends_it(ws: Workspace) -> None:
    damaged = sorted(OfflineStore(ws).view_dir("category_spend").glob("*/*.parquet"))[3]
    month = damaged.parent.name
    damaged.write_bytes(damaged.read_bytes()[:1000])
    before = _files(ws.offline_dir)

    for args in (["training-set"], ["features", "build", "--as-of", f"{month}-15"], ["sql", "SELECT 1"]):
        code, output = _invoke(ws, *args)
        assert code == 2 and str(damaged) in output, (args, output)
        assert "damaged" in output or "No magic bytes" in output
    assert not (ws.training_sets_dir / "propensity_v1").exists()
    assert _files(ws.offline_dir) == before

    build_features(ws)  # a full build rewrites every month
    assert pq.read_metadata(damaged).num_rows > 0
    code, output = _invoke(ws, "sql", "SELECT count(*) FROM category_spend")
    assert code == 0, output


def test_a_damaged_online_view_file_stops_materialize(ws: Workspace) -> None:
    damaged = sorted(OfflineStore(ws).view_dir("customer_profile").glob("*/*.parquet"))[0]
    damaged.write_bytes(b"not parquet at all" * 100)
    code, output = _invoke(ws, "features", "materialize")
    assert code == 2 and f"{damaged} is damaged" in output and "propensity features build" in output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["net_amount"]), "has no column 'net_amount'"),
        (
            lambda t: t.set_column(t.schema.get_field_index("amount"), "amount", pc.cast(t["amount"], pa.string())),
            "column 'amount' in",
        ),
        (
            lambda t: t.set_column(
                t.schema.get_field_index("ordered_at"), "ordered_at", pc.cast(t["ordered_at"], pa.timestamp("us"))
            ),
            "is timestamp[us] (no time zone), not timestamp[us, tz=UTC]",
        ),
    ],
)
def test_a_raw_table_of_another_schema_is_refused_before_anything_is_written(
    small_workspace: Workspace, tmp_path: Path, change, message: str
) -> None:
    ws = copy_workspace(small_workspace, tmp_path / "ws", ("raw", "offline"), registry=False)
    part = sorted((ws.raw_dir / "orders").glob("*.parquet"))[0]
    pq.write_table(change(pq.read_table(part)), part)
    before = _files(ws.offline_dir)
    code, output = _invoke(ws, "features", "build")
    assert code == 2 and message in output and str(part) in output and "propensity datagen" in output
    assert _files(ws.offline_dir) == before


def test_a_missing_month_or_file_is_refused_naming_the_view_and_month(ws: Workspace) -> None:
    months = sorted(p for p in OfflineStore(ws).view_dir("category_spend").iterdir() if p.is_dir())
    shutil.rmtree(months[2])
    lost = sorted(months[4].glob("*.parquet"))[0]
    lost.unlink()

    for args in (["features", "check"], ["training-set"]):
        code, output = _invoke(ws, *args)
        assert code != 0, (args, output)
        assert "'category_spend'" in output and f"month {months[2].name}" in output, (args, output)
        assert f"month {months[4].name} ({lost.name})" in output, (args, output)
    assert not (ws.training_sets_dir / "propensity_v1").exists()

    build_features(ws)  # a full build republishes every month
    code, output = _invoke(ws, "features", "check")
    assert code == 0, output


def test_a_truncated_offline_file_fails_features_check_in_one_line(ws: Workspace) -> None:
    damaged = sorted(OfflineStore(ws).view_dir("customer_rfm").glob("*/*.parquet"))[1]
    damaged.write_bytes(damaged.read_bytes()[:500])
    code, output = _invoke(ws, "features", "check")
    assert code != 0 and f"{damaged} is damaged" in output, output
