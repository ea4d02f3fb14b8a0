"""``propensity feast ...``: Feast's own CLI, run in ``feature_repo/`` against the chosen workspace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import typer

from propensity.cli._common import WorkdirOption, fail, workspace


def feast(ctx: typer.Context, workdir: WorkdirOption = None) -> None:
    """Run Feast's CLI in feature_repo/ on this workspace, e.g. `propensity feast apply`."""
    ws = workspace(workdir)
    executable = shutil.which("feast", path=os.path.dirname(sys.executable)) or shutil.which("feast")
    if executable is None:
        fail("Feast's CLI is not installed; run `pip install -e .`")
    ws.root.mkdir(parents=True, exist_ok=True)
    ws.feast_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([executable, *ctx.args], cwd=ws.feature_repo, check=False)
    raise typer.Exit(result.returncode)
