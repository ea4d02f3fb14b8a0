"""``propensity datagen`` and ``propensity run`` from the command line: output, progress and bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from propensity.cli import app
from propensity.datagen.output import read_manifest
from propensity.datagen.synthetic import CHUNK_SIZE
from propensity.workspace_lock import LOCK_FILE

runner = CliRunner()
TINY = ["--customers", "300", "--start", "2024-01-01", "--end", "2024-06-30", "--workers", "1"]


def _fingerprint(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def test_help_lists_the_subcommands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "datagen", "feast"):
        assert command in result.output


def test_datagen_writes_every_table_into_the_workdir(tmp_path: Path) -> None:
    result = runner.invoke(app, ["datagen", "--workdir", str(tmp_path / "ws"), *TINY, "--seed", "5"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(tmp_path / "ws" / "raw")
    assert manifest["source"] == {
        "kind": "synthetic", "customers": 300, "start": "2024-01-01", "end": "2024-06-30", "seed": 5,
        "chunk_size": CHUNK_SIZE,
    }  # fmt: skip
    assert manifest["rows"]["customers"] == 300
    assert "order_lines" in result.output


def test_datagen_uses_the_environment_workspace(isolated_workspace: Path) -> None:
    result = runner.invoke(app, ["datagen", *TINY])
    assert result.exit_code == 0, result.output
    assert read_manifest(isolated_workspace / "raw")["rows"]["customers"] == 300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--customers", "-5"], "customers: Input should be greater than or equal to 1"),
        (["--customers", "0"], "customers: Input should be greater than or equal to 1"),
        (["--start", "2025-01-01", "--end", "2024-01-01"], "end (2024-01-01) must be after start (2025-01-01)"),
        (["--start", "2024-13-01"], "start: Input should be a valid date"),
        (["--source", "parquet"], "unknown source 'parquet'"),
        (["--workers", "-2"], "workers must be >= 0"),
        (["--seed", "-1"], "seed: Input should be greater than or equal to 0"),
        ([], "already holds data; pass --overwrite"),
    ],
)
def test_bad_input_is_one_line_error_and_keeps_existing_data(
    isolated_workspace: Path, args: list[str], message: str
) -> None:
    assert runner.invoke(app, ["datagen", *TINY]).exit_code == 0
    before = _fingerprint(isolated_workspace)
    result = runner.invoke(app, ["datagen", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert message in lines[0]
    assert _fingerprint(isolated_workspace) == before


def test_overwrite_replaces_the_data(isolated_workspace: Path) -> None:
    assert runner.invoke(app, ["datagen", *TINY, "--seed", "1"]).exit_code == 0
    result = runner.invoke(app, ["datagen", *TINY, "--seed", "2", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert read_manifest(isolated_workspace / "raw")["source"]["seed"] == 2
    assert [p.name for p in isolated_workspace.iterdir() if p.name != LOCK_FILE] == ["raw"]  # nothing left aside


def test_run_keeps_the_raw_data_unless_fresh(isolated_workspace: Path, ray_session) -> None:
    first = runner.invoke(app, ["run", "--customers", "200", "--to", "data"])
    assert first.exit_code == 0, first.output
    manifest = read_manifest(isolated_workspace / "raw")
    listing = sorted(p.name for p in isolated_workspace.iterdir() if p.name != LOCK_FILE)
    assert listing == ["raw", "reports"]  # no stage after --to ran
    second = runner.invoke(app, ["run", "--customers", "300", "--to", "data"])
    assert second.exit_code == 0 and "synthetic (kept;" in second.output
    assert read_manifest(isolated_workspace / "raw") == manifest
    third = runner.invoke(app, ["run", "--customers", "300", "--to", "data", "--fresh"])
    assert third.exit_code == 0, third.output
    assert read_manifest(isolated_workspace / "raw")["rows"]["customers"] == 300
