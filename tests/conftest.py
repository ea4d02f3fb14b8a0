"""Shared fixtures: every test runs in its own workspace; generated data is made once per session."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from propensity.config import WORKDIR_ENV
from propensity.datagen.schema import RAW_SCHEMAS
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic


@pytest.fixture(autouse=True)
def isolated_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point $PROPENSITY_WORKDIR at a fresh directory so no test touches data/ or another test's files."""
    workdir = tmp_path / "workspace"
    monkeypatch.setenv(WORKDIR_ENV, str(workdir))
    return workdir


@pytest.fixture(scope="session")
def synthetic_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw tables of 20,000 synthetic customers over 2024-2025: enough to see every mechanism."""
    target = tmp_path_factory.mktemp("synthetic") / "raw"
    generate_synthetic(SyntheticConfig(customers=20_000, seed=11), target, workers=1)
    return target


def raw_connection(raw_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per raw table."""
    con = duckdb.connect()
    for name in RAW_SCHEMAS:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{raw_dir / name}/*.parquet')")
    return con


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray session for every test that needs Ray (it takes seconds to start)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
