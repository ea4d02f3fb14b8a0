"""``propensity datagen``: write the raw tables of the retailer into the workspace."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from propensity.cli._common import (
    WorkdirOption,
    console,
    describe_validation_error,
    fail,
    progress_bar,
    writing_workspace,
)
from propensity.config import Workspace
from propensity.datagen.config import CompleteJourneyConfig, SyntheticConfig

if TYPE_CHECKING:
    from propensity.datagen.output import ProgressCallback


class Source(StrEnum):
    """Where the raw tables come from."""

    synthetic = "synthetic"
    completejourney = "completejourney"


_DEFAULTS = SyntheticConfig()


def datagen(
    ctx: typer.Context,
    workdir: WorkdirOption = None,
    source: Annotated[str, typer.Option(help="synthetic | completejourney (real grocery data).")] = "synthetic",
    customers: Annotated[int, typer.Option(help="Customers to generate (synthetic).")] = _DEFAULTS.customers,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD (synthetic).")] = str(_DEFAULTS.start),
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD (synthetic).")] = str(_DEFAULTS.end),
    seed: Annotated[int, typer.Option(help="Random seed (synthetic).")] = _DEFAULTS.seed,
    categories: Annotated[int, typer.Option(help="Top product categories to model (completejourney).")] = 24,
    workers: Annotated[int, typer.Option(help="Parallel processes; 0 = one per core.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing raw tables.")] = False,
) -> None:
    """Write the raw tables (customers, products, orders, sessions, emails, ...) as Parquet."""
    if workers < 0:
        fail(f"workers must be >= 0 (got {workers})")
    raw_config(source, customers=customers, start=start, end=end, seed=seed, categories=categories)  # options first
    ws = writing_workspace(ctx, workdir)  # a refused command creates no workspace
    rows = write_raw(
        ws, source, customers=customers, start=start, end=end, seed=seed, categories=categories,
        workers=workers, overwrite=overwrite,
    )  # fmt: skip
    summary = Table("table", "rows", title=f"raw tables in {ws.raw_dir}")
    for name, count in rows.items():
        summary.add_row(name, f"{count:,}")
    console.print(summary)


def write_raw(
    ws: Workspace,
    source: str,
    *,
    customers: int = _DEFAULTS.customers,
    start: str | date = _DEFAULTS.start,
    end: str | date = _DEFAULTS.end,
    seed: int = _DEFAULTS.seed,
    categories: int = 24,
    workers: int = 0,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> dict[str, int]:
    """Validate every input, refuse a non-empty output without ``overwrite``, then generate, reporting to
    ``progress`` (default: a progress bar of its own)."""
    from propensity.storage import OutputExistsError, ensure_writable

    config = raw_config(source, customers=customers, start=start, end=end, seed=seed, categories=categories)
    try:
        ensure_writable(ws.raw_dir, overwrite=overwrite)
    except OutputExistsError as error:
        fail(str(error))
    if progress is not None:
        return _generate(ws, config, overwrite, workers, progress)
    with progress_bar(f"datagen ({source})") as bar:
        return _generate(ws, config, overwrite, workers, bar)


def raw_config(
    source: str, *, customers: int, start: str | date, end: str | date, seed: int, categories: int = 24
) -> SyntheticConfig | CompleteJourneyConfig:
    """The generator's configuration of ``source``, or a one-line error naming what is wrong."""
    if source not in Source.__members__:
        fail(f"unknown source {source!r}; choose one of: {', '.join(Source.__members__)}")
    try:
        if source == Source.synthetic:
            return SyntheticConfig(customers=customers, start=start, end=end, seed=seed)
        return CompleteJourneyConfig(categories=categories)
    except ValidationError as error:
        fail(describe_validation_error(error))


def _generate(
    ws: Workspace,
    config: SyntheticConfig | CompleteJourneyConfig,
    overwrite: bool,
    workers: int,
    progress: ProgressCallback,
) -> dict[str, int]:
    from propensity.datagen.completejourney import load_completejourney
    from propensity.datagen.synthetic import generate_synthetic

    if isinstance(config, SyntheticConfig):
        return generate_synthetic(config, ws.raw_dir, overwrite=overwrite, workers=workers or None, progress=progress)
    return load_completejourney(config, ws.raw_dir, overwrite=overwrite, progress=progress)
