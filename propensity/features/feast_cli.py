"""Feast's own CLI, run in ``feature_repo/`` against a workspace: registering and serving the features."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta

from propensity.config import Workspace
from propensity.errors import PropensityError
from propensity.features.catalog import ONLINE_PROFILE_VIEWS

FIRST_DAY = "2000-01-01T00:00:00"  # before any snapshot
TAIL_LINES = 15  # of a failed command's output, in its error


class FeastCommandError(PropensityError):
    """Feast's CLI failed; the message holds the end of its output, ``exit_code`` its exit status."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def run_feast(ws: Workspace, args: list[str], *, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run Feast's CLI with ``args`` in feature_repo/ on workspace ``ws`` (its output captured when
    ``capture``)."""
    executable = shutil.which("feast", path=os.path.dirname(sys.executable)) or shutil.which("feast")
    if executable is None:
        raise PropensityError("Feast's CLI is not installed; run `pip install -e .`")
    ws.feast_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **ws.feast_env()}
    return subprocess.run(
        [executable, *args], cwd=ws.feature_repo, env=env, check=False, capture_output=capture, text=True
    )


def feast_command(ws: Workspace, args: list[str], *, echo: bool) -> None:
    """Run Feast's CLI with ``args``, its output on the terminal when ``echo`` (else kept for the error); a
    :class:`FeastCommandError` when it fails."""
    result = run_feast(ws, args, capture=not echo)
    if result.returncode != 0:
        tail = "\n".join(((result.stdout or "") + (result.stderr or "")).strip().splitlines()[-TAIL_LINES:])
        said = f":\n{tail}" if tail else " (its output is above)"
        raise FeastCommandError(f"`feast {args[0]}` failed (exit {result.returncode}){said}", result.returncode)


def materialize_args(ws: Workspace, *, incremental: bool = False) -> list[str]:
    """Arguments of Feast's CLI loading the online views but the scores view up to the latest snapshot (all of
    it, or only what is new since the last materialization); `propensity score` pushes the scores online itself."""
    from propensity.datagen.raw_views import connect_raw, data_range

    last_snapshot = data_range(connect_raw(ws))[1] + timedelta(days=1)  # the day after the last event
    end = f"{last_snapshot + timedelta(days=1)}T00:00:00"
    views = online_view_options()
    return ["materialize-incremental", *views, end] if incremental else ["materialize", *views, FIRST_DAY, end]


def online_view_options() -> list[str]:
    """``--views`` options for `feast materialize` naming the online feature views but the scores view."""
    return [option for view in ONLINE_PROFILE_VIEWS for option in ("--views", view)]
