"""``propensity datagen``: write the raw tables of the retailer into the workspace."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from propensity.cli._common import WorkdirOption, console, run_stage, settings
from propensity.datagen.config import SyntheticConfig
from propensity.stages import Data, RawOptions, source_config

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
    with settings():
        config = source_config(source, customers=customers, start=start, end=end, seed=seed, categories=categories)
    options = RawOptions(config, overwrite=overwrite, workers=workers)
    ws, raw = run_stage(ctx, Data(), options, workdir, bar=f"datagen ({source})")
    summary = Table("table", "rows", title=f"raw tables in {ws.raw_dir}")
    for name, count in raw.rows.items():
        summary.add_row(name, f"{count:,}")
    console.print(summary)
