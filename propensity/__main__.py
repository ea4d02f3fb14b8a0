"""``python -m propensity``: the same as the ``propensity`` command."""

from propensity.cli import app

app()
