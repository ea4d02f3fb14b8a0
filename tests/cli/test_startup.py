"""The command line starts without the heavy libraries: help, the version, argument errors and `sql` load neither
Feast, Ray, XGBoost, scikit-learn nor torch (each command loads what it needs when it runs). Checked by the
modules a fresh interpreter imports (``python -X importtime``), not by timing."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest

from propensity.config import WORKDIR_ENV
from tests.support.known import KnownWorkspace

HEAVY = {"feast", "ray", "xgboost", "sklearn", "torch"}


def _start(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the CLI in a fresh interpreter; its result and the top-level packages it imported."""
    command = [sys.executable, "-X", "importtime", "-m", "propensity", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=os.environ)
    imported = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            imported.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return result, imported


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (["--help"], 0, "--version  Print the version and exit."),
        (["labels", "--help"], 0, "--horizon-days"),
        (["train", "--workers", "many"], 2, "Invalid value for '--workers'"),
    ],
)
def test_help_and_argument_errors_load_no_heavy_library(args: list[str], status: int, says: str) -> None:
    result, imported = _start(*args)
    assert result.returncode == status
    assert says in result.stdout + result.stderr
    assert "typer" in imported  # the parse saw the imports
    assert not imported & HEAVY


def test_version_is_the_installed_distributions() -> None:
    result, imported = _start("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"propensity {importlib.metadata.version('propensity')}"
    assert not imported & HEAVY


def test_sql_on_a_workspace_loads_no_heavy_library(known: KnownWorkspace) -> None:
    os.environ[WORKDIR_ENV] = str(known.ws.root)  # the fixture's monkeypatch restores it
    result, imported = _start("sql", "SELECT count(*) AS n FROM scores", "--format", "csv")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[0] == '"n"'
    assert int(result.stdout.splitlines()[1]) > 0
    assert "duckdb" in imported
    assert not imported & HEAVY
