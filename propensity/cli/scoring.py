"""``propensity score``: every eligible customer scored by the production models, published to Feast."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from inference.config import MAX_PSI, ScoreConfig
from propensity.cli._common import RayAddressOption, WorkdirOption, console, name_list, parse_date, run_stage, settings
from propensity.stages import Score


def score(
    ctx: typer.Context,
    workdir: WorkdirOption = None,
    as_of: Annotated[
        str | None, typer.Option(help="Scoring date, YYYY-MM-DD [default: the day after the last event].")
    ] = None,
    categories: Annotated[str, typer.Option(help="`all` or comma-separated categories with a model.")] = "all",
    workers: Annotated[int | None, typer.Option(help="Most scoring actors [default: half the CPUs].")] = None,
    max_psi: Annotated[
        float,
        typer.Option(
            help="Block the push when an input feature's PSI against its training data exceeds this; "
            "`inf` reports only."
        ),
    ] = MAX_PSI,
    ray_address: RayAddressOption = None,
) -> None:
    """Score every eligible customer with each category's production model and publish the scores as the
    `customer_propensity` Feast view (offline; online too when the date is the latest scored)."""
    with settings():
        config = ScoreConfig(
            as_of=parse_date(as_of, "--as-of"), categories=name_list(categories), workers=workers, max_psi=max_psi
        )
    _, run = run_stage(ctx, Score(), config, workdir, ray_address)
    table = Table("feature", "PSI", title="Most drifted input features (against their training data)")
    for feature, psi in run.drift[:5]:
        table.add_row(feature, f"{psi:.3f}")
    console.print(table)
    where = "offline and online" if run.online else "offline only (a later date is online)"
    console.print(
        f"[bold green]done[/]: {run.customers:,} customers x {len(run.models)} models scored as of {run.as_of}, "
        f"published {where} in {run.seconds:.0f} s: {run.path}"
    )
