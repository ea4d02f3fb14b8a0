"""``propensity labels`` and ``propensity training-set``: what to predict, and the features to predict it from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from propensity.cli._common import RayAddressOption, WorkdirOption, console, parse_date, run_stage, settings
from propensity.features.catalog import FEATURE_SERVICE
from propensity.stages import JoinTrainingSet, Labels
from training.config import BATCH_ROWS, LabelConfig, TrainingSetRequest

_LABELS = LabelConfig()


def labels(
    ctx: typer.Context,
    workdir: WorkdirOption = None,
    cadence: Annotated[str, typer.Option(help="Cutoffs: monthly, weekly or <N>d.")] = _LABELS.cadence,
    horizon_days: Annotated[int, typer.Option(help="Label window after each cutoff, in days.")] = _LABELS.horizon_days,
    eligibility_days: Annotated[
        int, typer.Option(help="Eligible: an order or session this many days before.")
    ] = _LABELS.eligibility_days,
    min_history_days: Annotated[
        int, typer.Option(help="First cutoff at least this long after the data starts.")
    ] = _LABELS.min_history_days,
    first: Annotated[str | None, typer.Option(help="No cutoff before this date (YYYY-MM-DD).")] = None,
    last: Annotated[str | None, typer.Option(help="No cutoff after this date (YYYY-MM-DD).")] = None,
) -> None:
    """Label every eligible customer at each cutoff: did they buy in each category within the horizon?"""
    with settings():
        config = LabelConfig(
            cadence=cadence,
            horizon_days=horizon_days,
            eligibility_days=eligibility_days,
            min_history_days=min_history_days,
            first=parse_date(first, "--first"),
            last=parse_date(last, "--last"),
        )
    _, report = run_stage(ctx, Labels(), config, workdir)
    table = Table("label", "positives", "rate", title=f"{report.rows:,} label rows at {len(report.cutoffs)} cutoffs "
                  f"({report.cutoffs[0]} .. {report.cutoffs[-1]}) in {report.path}")  # fmt: skip
    for column, positives in sorted(report.positives.items(), key=lambda item: -item[1]):
        table.add_row(column, f"{positives:,}", f"{positives / report.rows:.2%}")
    console.print(table)


def training_set(
    ctx: typer.Context,
    workdir: WorkdirOption = None,
    feature_service: Annotated[str, typer.Option(help="Feast feature service to join.")] = FEATURE_SERVICE,
    features: Annotated[
        str | None, typer.Option(help="Comma-separated view:feature references, instead of a feature service.")
    ] = None,
    labels_path: Annotated[
        Path | None, typer.Option("--labels", help="Entity rows (Parquet) [default: the workspace's labels].")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory [default: training_sets/<service>].")] = None,
    repo: Annotated[Path | None, typer.Option(help="Feast repo [default: the project's feature_repo/].")] = None,
    full_feature_names: Annotated[bool, typer.Option(help="Name columns <view>__<feature>.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
    workers: Annotated[int | None, typer.Option(help="Parallel join tasks [default: the cluster's CPUs].")] = None,
    batch_rows: Annotated[int, typer.Option(help="Entity rows per join task, at most.")] = BATCH_ROWS,
    ray_address: RayAddressOption = None,
) -> None:
    """Join the label rows point-in-time to the features of a Feast feature service, on Ray, into Parquet."""
    options = TrainingSetRequest(
        feature_service=feature_service,
        features=tuple(f.strip() for f in (features or "").split(",") if f.strip()),
        labels=labels_path,
        out=out,
        repo=repo,
        full_feature_names=full_feature_names,
        overwrite=overwrite,
        workers=workers,
        batch_rows=batch_rows,
    )
    _, made = run_stage(ctx, JoinTrainingSet(), options, workdir, ray_address, bar="training set: entity rows joined")
    joined = f"{len(options.features)}" if options.features else feature_service
    console.print(f"[bold green]done[/]: {made.rows:,} rows x {made.columns:,} columns ({joined}) in {made.path}")
