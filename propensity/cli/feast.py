"""``propensity feast ...``: Feast's own CLI, run in ``feature_repo/`` against the chosen workspace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta

import typer

from propensity.cli._common import WorkdirOption, fail, workspace
from propensity.config import Workspace
from propensity.features.catalog import ONLINE_PROFILE_VIEWS
from propensity.features.pipeline import connect, data_range


def run_feast(ws: Workspace, args: list[str], *, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run Feast's CLI with ``args`` in feature_repo/ on workspace ``ws`` (its output captured when
    ``capture``)."""
    executable = shutil.which("feast", path=os.path.dirname(sys.executable)) or shutil.which("feast")
    if executable is None:
        fail("Feast's CLI is not installed; run `pip install -e .`")
    ws.feast_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PROPENSITY_WORKDIR": str(ws.root)}
    return subprocess.run(
        [executable, *args], cwd=ws.feature_repo, env=env, check=False, capture_output=capture, text=True
    )


def materialize_end(ws: Workspace) -> str:
    """The end of a materialization window holding every snapshot of the offline store (the last snapshot is
    the day after the last event)."""
    last_snapshot = data_range(connect(ws))[1] + timedelta(days=1)
    return f"{last_snapshot + timedelta(days=1)}T00:00:00"


def online_view_options() -> list[str]:
    """``--views`` options for `feast materialize` naming the online feature views: the scores view
    (``customer_propensity``) is filled by `propensity score`, and before the first scoring it has no data."""
    return [option for view in ONLINE_PROFILE_VIEWS for option in ("--views", view)]


def feast(ctx: typer.Context, workdir: WorkdirOption = None) -> None:
    """Run Feast's CLI in feature_repo/ on this workspace, e.g. `propensity feast apply`."""
    raise typer.Exit(run_feast(workspace(workdir), ctx.args).returncode)
