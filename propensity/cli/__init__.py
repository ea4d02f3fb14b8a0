"""The ``propensity`` command line."""

from __future__ import annotations

import typer

from propensity.cli.datagen import datagen
from propensity.cli.feast import feast
from propensity.cli.features import app as features_app
from propensity.cli.models import app as models_app
from propensity.cli.models import train
from propensity.cli.run import run
from propensity.cli.scoring import score
from propensity.cli.training import labels, training_set

app = typer.Typer(
    name="propensity",
    help="Customer propensity modelling on Feast, DuckDB, Ray and XGBoost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(run)
app.command()(datagen)
app.add_typer(features_app, name="features")
app.command()(labels)
app.command("training-set")(training_set)
app.command()(train)
app.add_typer(models_app, name="models")
app.command()(score)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(feast)
