"""The synthetic retailer: customers simulated in fixed-size chunks, in parallel processes."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import date
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from propensity.datagen import catalog
from propensity.datagen.output import ProgressCallback, raw_output, write_tables
from propensity.datagen.simulate import Calendar, simulate_chunk

CHUNK_SIZE = 10_000  # customers per chunk; fixed, so output does not depend on the number of workers
MAX_CUSTOMERS = 100_000_000
MAX_DAYS = 3_660  # the longest activity span, end - start


class SyntheticConfig(BaseModel):
    """What to generate. Defaults: 10,000 customers over the two calendar years 2024 and 2025."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customers: int = Field(10_000, ge=1, le=MAX_CUSTOMERS, description="number of customers")
    start: date = Field(date(2024, 1, 1), description="first day of activity")
    end: date = Field(date(2025, 12, 31), description="last day of activity")
    seed: int = Field(0, ge=0, description="random seed; equal seeds give equal data")

    @model_validator(mode="after")
    def _end_after_start(self) -> SyntheticConfig:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        if (self.end - self.start).days > MAX_DAYS:
            raise ValueError(f"end ({self.end}) is more than {MAX_DAYS:,} days after start ({self.start})")
        return self


def generate_synthetic(
    config: SyntheticConfig,
    target: Path,
    *,
    overwrite: bool = False,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, int]:
    """Generate the synthetic retailer's raw tables into ``target``; returns rows per table.

    Nothing is visible at ``target`` until every table is complete; an existing ``target`` is replaced only
    with ``overwrite``. Output depends on ``config`` and ``chunk_size`` only, never on ``workers``.
    """
    chunks = [
        (index, 1 + index * chunk_size, min(chunk_size, config.customers - index * chunk_size))
        for index in range(-(-config.customers // chunk_size))
    ]
    workers = max(1, min(workers or os.cpu_count() or 1, len(chunks)))
    source = {"kind": "synthetic", **config.model_dump(), "chunk_size": chunk_size}
    with raw_output(target, overwrite=overwrite, source=source) as batch:
        batch.add(write_tables(batch.root, _catalog_tables(config.seed), part=0))
        if progress:
            progress(0, len(chunks))
        if workers == 1:
            for done, chunk in enumerate(chunks, start=1):
                batch.add(_write_chunk(config, batch.root, *chunk))
                if progress:
                    progress(done, len(chunks))
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = [pool.submit(_write_chunk, config, batch.root, *chunk) for chunk in chunks]
                for done, future in enumerate(as_completed(futures), start=1):
                    batch.add(future.result())
                    if progress:
                        progress(done, len(chunks))
    return batch.rows


def _write_chunk(config: SyntheticConfig, root: Path, index: int, first_id: int, n: int) -> dict[str, int]:
    calendar = Calendar(config.start, config.end, config.seed)
    tables = simulate_chunk(calendar, catalog.build_products(config.seed), index, first_id, n)
    return write_tables(root, tables, part=index)


def _catalog_tables(seed: int) -> dict[str, pa.Table]:
    products = catalog.build_products(seed)
    categories = catalog.CATEGORIES
    return {
        "categories": pa.table(
            {
                "category": [c.slug for c in categories],
                "name": [c.name for c in categories],
                "department": [c.department for c in categories],
            }
        ),
        "products": pa.table(
            {
                "product_id": products.product_id,
                "category": [categories[k].slug for k in products.category_index],
                "department": [categories[k].department for k in products.category_index],
                "name": products.name,
                "description": products.description,
                "list_price": products.list_price,
            }
        ),
    }
