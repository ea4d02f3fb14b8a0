"""``propensity score``: every eligible customer scored by the production models, published to Feast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from inference.config import MAX_PSI, ScoreConfig
from propensity.cli import _needs as needs
from propensity.cli._common import (
    RayAddressOption,
    WorkdirOption,
    console,
    describe_validation_error,
    fail,
    name_list,
    parse_date,
    ray_failures,
    use_ray,
    writing_workspace,
)
from propensity.config import Workspace

if TYPE_CHECKING:
    from inference.scoring import ScoringRun


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
    wanted = name_list(categories)
    day = parse_date(as_of, "--as-of")
    try:
        config = ScoreConfig(as_of=day, categories=wanted, workers=workers, max_psi=max_psi)
    except ValidationError as error:
        fail(describe_validation_error(error))
    ws = writing_workspace(ctx, workdir)  # after the options: a refused command creates no workspace
    needs.require(ws, needs.registry)
    log = use_ray(ctx, ws, ray_address)
    with ray_failures("score", log):
        score_and_report(ws, config)


def score_and_report(ws: Workspace, config: ScoreConfig) -> ScoringRun:
    """Score and publish, then print what was written (one-line error on bad input)."""
    from inference.score_store import ScoresLockedError
    from inference.scoring import ScoreError, score_customers
    from training.plan import TrainingSetError

    try:
        run = score_customers(ws, config)
    except (ScoreError, ScoresLockedError, TrainingSetError, ValueError) as error:
        fail(str(error))
    table = Table("feature", "PSI", title="Most drifted input features (against their training data)")
    for feature, psi in run.drift[:5]:
        table.add_row(feature, f"{psi:.3f}")
    console.print(table)
    where = "offline and online" if run.online else "offline only (a later date is online)"
    console.print(
        f"[bold green]done[/]: {run.customers:,} customers x {len(run.models)} models scored as of {run.as_of}, "
        f"published {where} in {run.seconds:.0f} s: {run.path}"
    )
    return run
