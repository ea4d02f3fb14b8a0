"""``propensity run``: the whole pipeline, stage after stage, resuming from what the workspace holds."""

from __future__ import annotations

from typing import Annotated

import typer

from propensity.cli._common import WorkdirOption, console, fail, progress_bar, workspace
from propensity.cli.datagen import write_raw
from propensity.cli.feast import online_view_options, run_feast
from propensity.cli.models import train_and_report
from propensity.datagen.output import read_manifest
from propensity.features.pipeline import build_features
from propensity.storage import is_nonempty_dir
from training.labels import LabelConfig, build_labels
from training.trainer import TrainConfig


def run(
    workdir: WorkdirOption = None,
    source: Annotated[str, typer.Option(help="synthetic | completejourney.")] = "synthetic",
    customers: Annotated[int, typer.Option(help="Customers to generate (synthetic).")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (synthetic).")] = 0,
    fresh: Annotated[bool, typer.Option("--fresh", help="Regenerate the raw data even if present.")] = False,
) -> None:
    """Run every stage: raw data, features, Feast registry and online store, labels, a model per category
    (later: scores)."""
    ws = workspace(workdir)
    if fresh or not is_nonempty_dir(ws.raw_dir):
        write_raw(ws, source, customers=customers, seed=seed, overwrite=fresh)
    else:
        console.print(f"raw data: kept the {read_manifest(ws.raw_dir)['source']['kind']} tables (--fresh remakes)")
    rows = read_manifest(ws.raw_dir)["rows"]
    with progress_bar("features build") as progress:
        report = build_features(ws, progress=progress)
    if run_feast(ws, ["apply"]) != 0:
        fail("feast apply failed (its output is above)")
    span = ["2000-01-01T00:00:00", f"{report.dates[-1]}T00:00:01"]
    if run_feast(ws, ["materialize", *online_view_options(), *span]) != 0:
        fail("feast materialize failed (its output is above)")
    labels = build_labels(ws, LabelConfig())
    console.print(f"labels: {labels.rows:,} rows at {len(labels.cutoffs)} cutoffs")
    train_and_report(ws, TrainConfig())
    console.print(
        f"[bold green]done[/]: {rows['customers']:,} customers, {rows['orders']:,} orders, "
        f"{rows['sessions']:,} sessions, {rows['emails']:,} emails; {len(report.dates)} weekly snapshots of "
        f"{len(report.rows)} feature views ({sum(report.rows.values()):,} rows) in {ws.root}"
    )
