"""Shared fixtures: every test runs in its own workspace; generated data is made once per session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster

from propensity.config import WORKDIR_ENV, Workspace
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic
from tests.support.known import KnownWorkspace, known_workspace
from tests.support.servers import free_port, two_worker_cluster
from tests.support.workspaces import MODEL_SEED, feature_workspace

# The local S3 server of the object-store tests (`s3_bucket`). Its address is set before anything starts Ray, so
# every Ray worker inherits it as a cluster node's would; nothing else in the tests reads these variables.
S3_ENDPOINT = f"http://127.0.0.1:{free_port()}"
os.environ.update(
    AWS_ENDPOINT_URL=S3_ENDPOINT, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1"
)


@pytest.fixture(scope="session")
def s3_bucket() -> Iterator[str]:
    """The URI of a bucket on a local S3-compatible server (moto's), running for the session."""
    import pyarrow.fs as pafs

    port = S3_ENDPOINT.rsplit(":", 1)[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", port], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the local S3 server did not start"
                time.sleep(0.2)
        pafs.S3FileSystem(endpoint_override=S3_ENDPOINT, allow_bucket_creation=True).create_dir("lake")
        yield "s3://lake"
    finally:
        server.terminate()
        server.wait()


@pytest.fixture(autouse=True)
def isolated_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point $PROPENSITY_WORKDIR at a fresh directory so no test touches data/ or another test's files."""
    workdir = tmp_path / "workspace"
    monkeypatch.setenv(WORKDIR_ENV, str(workdir))
    return workdir


@pytest.fixture
def known(isolated_workspace: Path) -> KnownWorkspace:
    """A workspace of hand-written data whose reports can be computed in the test (tests/support/known.py)."""
    return known_workspace(isolated_workspace)


@pytest.fixture(scope="session")
def synthetic_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw tables of 20,000 synthetic customers over 2024-2025: enough to see every mechanism."""
    target = tmp_path_factory.mktemp("synthetic") / "raw"
    generate_synthetic(SyntheticConfig(customers=20_000, seed=11), target, workers=1)
    return target


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A fresh two-worker cluster per test, as a job would find a cluster it has to itself."""
    cluster = two_worker_cluster()
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray session for every test that needs Ray (it takes seconds to start)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def small_workspace(tmp_path_factory: pytest.TempPathFactory, ray_session) -> Workspace:
    """400 customers over nine months with features and monthly labels, for tests of the feature store and of
    damaged data. Tests copy it (:func:`tests.support.workspaces.copy_workspace`) before changing it."""
    from training.labels import build_labels

    ws = feature_workspace(tmp_path_factory.mktemp("small"), customers=400, end=date(2024, 9, 30), seed=MODEL_SEED)
    build_labels(ws.activate())
    return ws


@pytest.fixture(scope="session")
def model_workspace(tmp_path_factory: pytest.TempPathFactory, ray_session) -> Workspace:
    """2,000 customers over 15 months with features and monthly labels: enough positives to train and judge
    the bigger categories."""
    from training.labels import build_labels

    ws = feature_workspace(tmp_path_factory.mktemp("models"), customers=2_000, end=date(2025, 3, 31), seed=MODEL_SEED)
    build_labels(ws.activate())
    return ws


@pytest.fixture(scope="session")
def trained_workspace(model_workspace: Workspace) -> tuple[Workspace, str]:
    """The model workspace after one ``propensity train`` of every category (its training set, models and
    report), and what the command printed. Tests that change its models work on a
    :func:`tests.support.workspaces.copy_workspace`."""
    from typer.testing import CliRunner

    from propensity.cli import app

    result = CliRunner().invoke(app, ["train", "--workdir", str(model_workspace.root)])
    assert result.exit_code == 0, result.output
    return model_workspace, result.output
