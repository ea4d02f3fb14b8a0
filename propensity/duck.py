"""DuckDB connections as every module opens them: in UTC, so timestamps read and compare the same everywhere."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb


def in_utc(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """``con`` (a connection, or a cursor: cursors do not inherit the setting) set to UTC; returns it."""
    con.execute("SET TimeZone = 'UTC'")
    return con


def connect(config: Mapping[str, object] | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection in UTC, with ``config`` (DuckDB's settings, e.g. ``threads``)."""
    return in_utc(duckdb.connect(config=dict(config or {})))
