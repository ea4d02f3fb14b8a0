"""The raw tables through DuckDB: a connection with a view per raw table, and the days their events span."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import duckdb

from propensity import duck
from propensity.config import Workspace
from propensity.datagen.schema import RAW_SCHEMAS
from propensity.errors import DamagedDataError
from propensity.storage import sql_path


def connect_raw(
    ws: Workspace, config: Mapping[str, object] | None = None, tables: Mapping[str, Path] | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC with a ``raw_<table>`` view per raw table of ``ws`` (no progress bar of DuckDB's
    own on the terminal: the commands show their progress), with ``config`` (DuckDB's settings). ``tables`` puts
    other directories of Parquet files in the place of some raw tables (a build's split of them by bucket)."""
    con = duck.connect(config)
    con.execute("SET enable_progress_bar = false")
    for name in RAW_SCHEMAS:
        files = (tables or {}).get(name, ws.raw_dir / name)
        con.execute(f"CREATE VIEW raw_{name} AS SELECT * FROM read_parquet('{sql_path(files)}/*.parquet')")
    return con


def data_range(con: duckdb.DuckDBPyConnection) -> tuple[date, date]:
    """First and last day with any event in the raw tables (the views of :func:`connect_raw`)."""
    first, last = con.execute(
        """SELECT min(d)::DATE, max(d)::DATE FROM (
               SELECT ordered_at AS d FROM raw_orders UNION ALL SELECT started_at FROM raw_sessions
               UNION ALL SELECT sent_at FROM raw_emails)"""
    ).fetchall()[0]
    if first is None:
        raise DamagedDataError("the raw tables hold no events: nothing to build features from")
    return first, last
