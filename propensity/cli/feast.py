"""``propensity feast ...``: Feast's own CLI, run in ``feature_repo/`` against the chosen workspace."""

from __future__ import annotations

import typer

from propensity.cli._common import WorkdirOption, workspace, writing_workspace

FEAST_WRITES = {"apply", "materialize", "materialize-incremental", "teardown"}


def feast(ctx: typer.Context, workdir: WorkdirOption = None) -> None:
    """Run Feast's CLI in feature_repo/ on this workspace, e.g. `propensity feast apply` (commands that write
    hold the workspace's lock)."""
    from propensity.features.feast_cli import run_feast

    writes = bool(set(ctx.args) & FEAST_WRITES)
    ws = writing_workspace(ctx, workdir) if writes else workspace(workdir)
    raise typer.Exit(run_feast(ws, ctx.args).returncode)
