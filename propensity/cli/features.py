"""``propensity features ...``: build the offline store, register it with Feast, serve it, check it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from propensity import needs
from propensity.cli._common import (
    RayAddressOption,
    WorkdirOption,
    console,
    parse_date,
    run_stage,
    settings,
    workspace,
)
from propensity.features.config import BuildConfig
from propensity.stages import Apply, BuildOptions, FeastOptions, Features, Materialize

app = typer.Typer(
    rich_markup_mode=None, help="Build, register, serve and check the customer features.", no_args_is_help=True
)


@app.command()
def build(
    ctx: typer.Context,
    workdir: WorkdirOption = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Build only this snapshot date (YYYY-MM-DD).")] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Build the snapshots from this date's month on (YYYY-MM-DD); earlier months stay as they are."
        ),
    ] = None,
    cadence_days: Annotated[int, typer.Option(help="Days between snapshots over the history.")] = 7,
    buckets: Annotated[
        int | None, typer.Option(help="Customer slices, fixed at the first build (default: 1 per 50k, 1 per CPU).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Build tasks at a time (default: the cluster's CPUs).")] = None,
    task_memory_gib: Annotated[float, typer.Option(help="Memory of each build task, GiB.")] = 2.0,
    ray_address: RayAddressOption = None,
) -> None:
    """Compute feature snapshots (weekly over the whole history, or one --as-of date) into the offline store, as
    Ray tasks (one per customer slice and batch of months)."""
    from propensity.features.catalog import workspace_catalog

    with settings():
        config = BuildConfig(
            cadence_days=cadence_days, buckets=buckets, workers=workers, task_memory_gib=task_memory_gib
        )
        options = BuildOptions(parse_date(as_of, "--as-of"), parse_date(since, "--since"), config)
    ws, report = run_stage(ctx, Features(), options, workdir, ray_address, bar="features build")
    views = workspace_catalog(ws)
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
    run_stage(ctx, Apply(), FeastOptions(echo=True), workdir)


@app.command()
def materialize(
    ctx: typer.Context,
    workdir: WorkdirOption = None,
    incremental: Annotated[bool, typer.Option(help="Only what is new since the last materialization.")] = False,
) -> None:
    """Load the latest values of the online feature views into the online store (`feast materialize`); scores
    reach it when `propensity score` pushes them."""
    run_stage(ctx, Materialize(), FeastOptions(echo=True, incremental=incremental), workdir)


@app.command()
def check(workdir: WorkdirOption = None) -> None:
    """Fail if the offline store disagrees with the Feast definitions; report null or constant features."""
    from feast import FeatureStore

    from propensity.features.governance import check_store

    ws = workspace(workdir)
    needs.registry(ws)
    report = check_store(FeatureStore(repo_path=str(ws.feature_repo)), ws)
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
