"""``propensity feast ...``: Feast's own CLI, run in ``feature_repo/`` against the chosen workspace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta

import typer

from propensity.cli import _needs as needs
from propensity.cli._common import WorkdirOption, fail, workspace, writing_workspace
from propensity.config import Workspace
from propensity.features.catalog import ONLINE_PROFILE_VIEWS

FIRST_DAY = "2000-01-01T00:00:00"  # before any snapshot
FEAST_WRITES = {"apply", "materialize", "materialize-incremental", "teardown"}


def run_feast(ws: Workspace, args: list[str], *, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run Feast's CLI with ``args`` in feature_repo/ on workspace ``ws`` (its output captured when
    ``capture``)."""
    executable = shutil.which("feast", path=os.path.dirname(sys.executable)) or shutil.which("feast")
    if executable is None:
        fail("Feast's CLI is not installed; run `pip install -e .`")
    ws.feast_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **ws.feast_env()}
    return subprocess.run(
        [executable, *args], cwd=ws.feature_repo, env=env, check=False, capture_output=capture, text=True
    )


def materialize_args(ws: Workspace, *, incremental: bool = False) -> list[str]:
    """Arguments of Feast's CLI loading the online views up to the latest snapshot (all of it, or only what is
    new since the last materialization); what is not there yet (:mod:`propensity.cli._needs`) or a damaged offline
    file of those views is refused first."""
    from propensity.features.offline_store import OfflineStore

    needs.raw(ws)
    needs.offline(ws, ONLINE_PROFILE_VIEWS)
    needs.registry(ws)
    OfflineStore(ws).ready(ONLINE_PROFILE_VIEWS)  # checked, then mirrored: Feast reads the object-store copy
    end, views = materialize_end(ws), online_view_options()
    return ["materialize-incremental", *views, end] if incremental else ["materialize", *views, FIRST_DAY, end]


def materialize_end(ws: Workspace) -> str:
    """The end of a materialization window holding every snapshot of the offline store (the last snapshot is
    the day after the last event)."""
    from propensity.datagen.raw_views import connect_raw, data_range

    last_snapshot = data_range(connect_raw(ws))[1] + timedelta(days=1)
    return f"{last_snapshot + timedelta(days=1)}T00:00:00"


def online_view_options() -> list[str]:
    """``--views`` options for `feast materialize` naming the online feature views but the scores view
    (``customer_propensity``): `propensity score` pushes its scores online as it publishes them."""
    return [option for view in ONLINE_PROFILE_VIEWS for option in ("--views", view)]


def feast(ctx: typer.Context, workdir: WorkdirOption = None) -> None:
    """Run Feast's CLI in feature_repo/ on this workspace, e.g. `propensity feast apply` (commands that write
    hold the workspace's lock)."""
    writes = bool(set(ctx.args) & FEAST_WRITES)
    ws = writing_workspace(ctx, workdir) if writes else workspace(workdir)
    raise typer.Exit(run_feast(ws, ctx.args).returncode)
