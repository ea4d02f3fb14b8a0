"""``propensity run``: the whole pipeline, stage after stage, resuming from what the workspace holds."""

from __future__ import annotations

from typing import Annotated

import typer

from propensity.cli._common import WorkdirOption, console, workspace
from propensity.cli.datagen import write_raw
from propensity.datagen.output import read_manifest
from propensity.storage import is_nonempty_dir


def run(
    workdir: WorkdirOption = None,
    source: Annotated[str, typer.Option(help="synthetic | completejourney.")] = "synthetic",
    customers: Annotated[int, typer.Option(help="Customers to generate (synthetic).")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (synthetic).")] = 0,
    fresh: Annotated[bool, typer.Option("--fresh", help="Regenerate the raw data even if present.")] = False,
) -> None:
    """Run every stage: raw data, then (as they land) features, training sets, models and scores."""
    ws = workspace(workdir)
    if fresh or not is_nonempty_dir(ws.raw_dir):
        write_raw(ws, source, customers=customers, seed=seed, overwrite=fresh)
    else:
        manifest = read_manifest(ws.raw_dir)
        console.print(f"raw data: kept the {manifest['source']['kind']} tables in {ws.raw_dir} (--fresh remakes)")
    rows = read_manifest(ws.raw_dir)["rows"]
    console.print(
        f"[bold green]done[/]: {rows['customers']:,} customers, {rows['orders']:,} orders, "
        f"{rows['sessions']:,} sessions, {rows['emails']:,} emails in {ws.root}"
    )
