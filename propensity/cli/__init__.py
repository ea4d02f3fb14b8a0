"""The ``propensity`` command line. Its modules import only what declaring the commands needs (typer, rich, the
pydantic settings); each command loads Feast, Ray, XGBoost and the rest when it runs, so ``--help``, ``--version``
and argument errors answer at once."""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from propensity import __version__
from propensity.cli._errors import Commands
from propensity.cli.analytics import app as report_app
from propensity.cli.analytics import sql
from propensity.cli.datagen import datagen
from propensity.cli.feast import feast
from propensity.cli.features import app as features_app
from propensity.cli.models import app as models_app
from propensity.cli.models import train
from propensity.cli.run import run
from propensity.cli.scoring import score
from propensity.cli.training import labels, training_set

warnings.filterwarnings("ignore", category=DeprecationWarning)  # libraries' notices, not the user's business

app = typer.Typer(
    cls=Commands,
    rich_markup_mode=None,
    name="propensity",
    help="Customer propensity modelling on Feast, DuckDB, Ray and XGBoost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"propensity {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Customer propensity modelling on Feast, DuckDB, Ray and XGBoost."""


app.command()(run)
app.command()(datagen)
app.add_typer(features_app, name="features")
app.command()(labels)
app.command("training-set")(training_set)
app.command()(train)
app.add_typer(models_app, name="models")
app.command()(score)
app.command()(sql)
app.add_typer(report_app, name="report")
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(feast)
