"""The raw tables read independently of the pipeline: oracles for what it derives from them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from propensity.config import Workspace
from propensity.datagen.schema import RAW_SCHEMAS


def raw_connection(raw_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per raw table."""
    con = duckdb.connect()
    for name in RAW_SCHEMAS:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{raw_dir / name}/*.parquet')")
    return con


def eligible_customers(ws: Workspace, day: date) -> set[int]:
    """Customers with an order or session in the 365 days before ``day``, from the raw tables with pandas."""
    start = pd.Timestamp(day, tz="UTC") - pd.Timedelta(days=365)
    end = pd.Timestamp(day, tz="UTC")
    ids = set()
    for table, column in (("orders", "ordered_at"), ("sessions", "started_at")):
        frame = pq.read_table(ws.raw_dir / table, columns=["customer_id", column]).to_pandas()
        ids |= set(frame.customer_id[(frame[column] >= start) & (frame[column] < end)])
    return ids
