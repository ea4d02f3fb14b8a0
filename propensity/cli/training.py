"""``propensity labels`` and ``propensity training-set``: what to predict, and the features to predict it from."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from propensity.cli import _needs as needs
from propensity.cli._common import (
    RayAddressOption,
    WorkdirOption,
    console,
    describe_validation_error,
    fail,
    progress_bar,
    ray_failures,
    use_ray,
    writing_workspace,
)
from training.config import BATCH_ROWS, FEATURE_SERVICE, LabelConfig

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
    from training.labels import build_labels

    try:
        config = LabelConfig(
            cadence=cadence,
            horizon_days=horizon_days,
            eligibility_days=eligibility_days,
            min_history_days=min_history_days,
            first=date.fromisoformat(first) if first else None,
            last=date.fromisoformat(last) if last else None,
        )
    except ValidationError as error:
        fail(describe_validation_error(error))
    except ValueError as error:
        fail(str(error))
    ws = writing_workspace(ctx, workdir)  # after the options: a refused command creates no workspace
    try:
        report = build_labels(ws, config)
    except ValidationError as error:
        fail(describe_validation_error(error))
    except (ValueError, FileNotFoundError) as error:
        fail(str(error))
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
    from propensity.features.offline_store import OfflineStore
    from propensity.storage import OutputExistsError, parquet_shape
    from training.inputs import inputs_digest, record_inputs
    from training.plan import TrainingSetError
    from training.training_set import build_training_set, write_training_set

    ws = writing_workspace(ctx, workdir)
    wanted: list[str] | str = [f.strip() for f in features.split(",") if f.strip()] if features else feature_service
    target = out or ws.training_sets_dir / (feature_service if features is None else "custom")
    entities = labels_path or ws.labels_dir
    if not entities.exists():
        fail(f"no label rows at {entities}; run `propensity labels` first or pass --labels")
    if repo is None:
        needs.require(ws, needs.registry)
    # The workspace's own training set records its inputs, so `propensity train` can tell it is current.
    own = features is None and labels_path is None and out is None and repo is None and not full_feature_names
    log = use_ray(ctx, ws, ray_address)
    try:
        if repo is None:
            OfflineStore(ws).ready()  # the join reads the object-store copy, when there is one
        digest = inputs_digest(ws, feature_service) if own else None  # taken before the join, as training.inputs says
        with progress_bar("training set: entity rows joined") as progress, ray_failures("training-set", log):
            dataset = build_training_set(
                repo or ws.feature_repo,
                entities,
                wanted,
                full_feature_names=full_feature_names,
                workers=workers,
                batch_rows=batch_rows,
                presorted=labels_path is None,  # `propensity labels` writes rows ordered by cutoff and customer
                progress=progress,
            )
            path = write_training_set(dataset, target, overwrite=overwrite or out is None)
            record_inputs(path, digest)
    except (TrainingSetError, OutputExistsError) as error:
        fail(str(error))
    rows, columns = parquet_shape(path)
    console.print(
        f"[bold green]done[/]: {rows:,} rows x {columns:,} columns "
        f"({len(wanted) if isinstance(wanted, list) else feature_service}) in {path}"
    )
