"""``propensity features ...``: build the offline store, register it with Feast, serve it, check it."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from propensity.cli import _needs as needs
from propensity.cli._common import (
    RayAddressOption,
    WorkdirOption,
    console,
    describe_validation_error,
    fail,
    parse_date,
    progress_bar,
    ray_failures,
    use_ray,
    workspace,
    writing_workspace,
)
from propensity.cli.feast import materialize_args, run_feast

app = typer.Typer(
    rich_markup_mode=None, help="Build, register, serve and check the customer features.", no_args_is_help=True
)


@app.command()
def build(
    ctx: typer.Context,
    workdir: WorkdirOption = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Build only this snapshot date (YYYY-MM-DD).")] = None,
    cadence_days: Annotated[int, typer.Option(help="Days between snapshots over the history.")] = 7,
    buckets: Annotated[int | None, typer.Option(help="Customer slices (default: 1 per 50k customers).")] = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Compute feature snapshots (weekly over the whole history, or one --as-of date) into the offline store
    (product text embeddings run on Ray)."""
    from propensity.features.catalog import workspace_catalog
    from propensity.features.pipeline import BuildConfig, build_features

    day = parse_date(as_of, "--as-of")  # options first: a refused command creates no workspace
    try:
        config = BuildConfig(cadence_days=cadence_days, buckets=buckets)
    except ValidationError as error:
        fail(describe_validation_error(error))
    ws = writing_workspace(ctx, workdir)
    try:
        views = workspace_catalog(ws)
    except (ValueError, FileNotFoundError) as error:
        fail(str(error))
    log = use_ray(ctx, ws, ray_address)
    with progress_bar("features build") as progress, ray_failures("features", log):
        try:
            report = build_features(ws, as_of=day, config=config, progress=progress)
        except ValueError as error:
            fail(str(error))
    summary = Table("view", "features", "rows written", title=f"{len(report.dates)} snapshot(s), "
                    f"{report.dates[0]} .. {report.dates[-1]}, in {ws.offline_dir}")  # fmt: skip
    width = {v.name: len(v.features) for v in views}
    for view, rows in report.rows.items():
        summary.add_row(view, f"{width[view]:,}", f"{rows:,}")
    console.print(summary)
    console.print(f"{sum(width[v] for v in report.rows):,} features in {len(report.rows)} views")
    for kind, count in report.anomalies.items():
        console.print(
            f"[yellow]warning:[/] raw data, {escape(kind)}: {count:,} (kept; see docs/DATA.md)", highlight=False
        )


@app.command()
def apply(ctx: typer.Context, workdir: WorkdirOption = None) -> None:
    """Register the entity, feature views and services with Feast (`feast apply` in feature_repo/)."""
    from propensity.features.catalog import workspace_catalog

    ws = writing_workspace(ctx, workdir)
    try:
        workspace_catalog(ws)
    except (ValueError, FileNotFoundError) as error:
        fail(str(error))
    raise typer.Exit(run_feast(ws, ["apply"]).returncode)


@app.command()
def materialize(
    ctx: typer.Context,
    workdir: WorkdirOption = None,
    incremental: Annotated[bool, typer.Option(help="Only what is new since the last materialization.")] = False,
) -> None:
    """Load the latest values of the online feature views into the online store (`feast materialize`); scores
    reach it when `propensity score` pushes them."""
    import duckdb

    from propensity.storage import DamagedFileError

    ws = writing_workspace(ctx, workdir)
    try:
        args = materialize_args(ws, incremental=incremental)
    except (DamagedFileError, needs.NotThereYetError) as error:
        fail(str(error))
    except (ValueError, duckdb.Error) as error:
        fail(f"{error}; build the features first (`propensity features build`)")
    raise typer.Exit(run_feast(ws, args).returncode)


@app.command()
def check(workdir: WorkdirOption = None) -> None:
    """Fail if the offline store disagrees with the Feast definitions; report null or constant features."""
    from feast import FeatureStore

    from propensity.features.governance import check_store

    ws = workspace(workdir)
    needs.require(ws, needs.registry)
    try:
        store = FeatureStore(repo_path=str(ws.feature_repo))
        report = check_store(store, ws)
    except FileNotFoundError as error:
        fail(f"{error}; run `propensity features apply` first")
    if report.problems:
        for problem in report.problems:
            console.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    for kind, names in (("all null", report.all_null), ("constant", report.constant)):
        if names:
            shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
            console.print(f"[yellow]warning:[/] {len(names)} feature(s) {kind} in the latest snapshot: {shown}")
    if report.empty:
        console.print(f"no rows yet in {', '.join(report.empty)} (its schema is in place)")
    console.print(
        f"[bold green]ok[/]: {report.views_checked} views, {report.features_checked:,} features match their "
        f"offline data"
    )
