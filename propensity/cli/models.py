"""``propensity train`` and ``propensity models list``: per-category models and the registry."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from propensity.cli._common import (
    RayAddressOption,
    WorkdirOption,
    console,
    name_list,
    run_stage,
    settings,
    workspace,
)
from propensity.features.catalog import FEATURE_SERVICE
from propensity.stages import Train, TrainOptions
from training.config import Strategy, TrainConfig

if TYPE_CHECKING:
    from training.trainer import TrainingRun

app = typer.Typer(rich_markup_mode=None, help="The model registry.", no_args_is_help=True)


def train(
    ctx: typer.Context,
    workdir: WorkdirOption = None,
    categories: Annotated[str, typer.Option(help="`all` or comma-separated category names.")] = "all",
    feature_service: Annotated[str, typer.Option(help="Feast feature service to train on.")] = FEATURE_SERVICE,
    workers: Annotated[int | None, typer.Option(help="Parallel trainers [default: the cluster's CPUs].")] = None,
    force: Annotated[bool, typer.Option(help="Promote the new models even where they do not win.")] = False,
    strategy: Annotated[
        Strategy, typer.Option(help="per-category: a model per worker; data-parallel: Ray Train across workers.")
    ] = "auto",
    ray_address: RayAddressOption = None,
) -> None:
    """Train one XGBoost model per category on the workspace's labels, register them, promote the winners."""
    with settings():
        config = TrainConfig(
            categories=name_list(categories),
            feature_service=feature_service,
            workers=workers,
            force=force,
            strategy=strategy,
        )
    _, trained = run_stage(ctx, Train(), TrainOptions(config), workdir, ray_address, bar="training categories")
    run = trained.run
    if run.reused_training_set:
        console.print(
            f"training set: {run.reused_training_set}, current (its labels, features and offline files are unchanged)",
            highlight=False,
            soft_wrap=True,
        )
    console.print(_summary(run))
    console.print(
        f"[bold green]done[/]: run {run.run_id} ({run.strategy}) in {run.seconds:.0f} s; report {trained.report}"
    )


def _summary(run: TrainingRun) -> Table:
    table = Table(title=f"run {run.run_id}")
    table.add_column("category", min_width=max(len(o.category) for o in run.outcomes))
    for name in ("model", "roc_auc", "pr_auc", "lift@10%", "pos.", "outcome"):
        table.add_column(name)
    for o in run.outcomes:
        if o.card is None:
            table.add_row(o.category, "", "", "", "", "", f"[yellow]skipped[/]: {o.note}")
            continue
        m = o.card.metrics
        outcome = "[green]production[/]" if o.promoted else "candidate"
        table.add_row(
            o.category,
            f"v{o.card.version}",
            f"{m['roc_auc']:.3f}",
            f"{m['pr_auc']:.3f}",
            f"{m['top_decile_lift']:.1f}",
            f"{m['positives']:.0f}",
            f"{outcome}: {o.note}",
        )
    return table


@app.command("list")
def list_models(
    workdir: WorkdirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """Every model version with its stage and test metrics."""
    from training.registry import ModelRegistry

    rows = ModelRegistry(workspace(workdir).models_dir).listing()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("category", "version", "stage", "created", "roc_auc", "pr_auc", "top_decile_lift", "run")
    for row in rows:
        metrics = row["metrics"]
        table.add_row(
            str(row["category"]),
            f"v{row['version']}",
            str(row["stage"]),
            str(row["created_at"])[:19],
            *(f"{metrics[m]:.4f}" for m in ("roc_auc", "pr_auc", "top_decile_lift")),
            str(row["run_id"]),
        )
    console.print(table if rows else "no models yet: run `propensity train`")
