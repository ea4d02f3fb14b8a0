"""Query results on the terminal: a rich table of the first rows, or a file format written by
:mod:`propensity.analytics.output`. Values are shown verbatim: a table's cells and headers are plain text (never
Rich markup or emoji codes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from propensity.analytics.output import dumps_exact, write_result
from propensity.errors import BadInputError

if TYPE_CHECKING:
    import duckdb

Format = Literal["table", "csv", "json", "parquet"]


def show_result(
    relation: duckdb.DuckDBPyRelation,
    fmt: Format,
    *,
    console: Console,
    out: Path | None = None,
    max_rows: int = 50,
    title: str | None = None,
) -> int | None:
    """Show ``relation``: a ``table`` of its first ``max_rows`` rows on ``console``, else ``fmt`` written to
    ``out`` or stdout. Returns the rows written (None for a table, which does not count them all)."""
    if fmt != "table":
        return write_result(relation, fmt, out=out)
    if out is not None:
        raise BadInputError("`out` needs `format` csv, json or parquet")
    console.print(rich_table(relation.limit(max_rows + 1).to_arrow_table(), max_rows, title))
    return None


def rich_table(table: pa.Table, max_rows: int, title: str | None = None) -> Table:
    """The first ``max_rows`` rows of ``table`` as a rich table, with a caption when there are more."""
    shown = Table(*(Column(header=Text(name)) for name in table.column_names), title=Text(title) if title else None)
    for row in table.slice(0, max_rows).to_pylist():
        shown.add_row(*(_cell(value) for value in row.values()))
    if table.num_rows > max_rows:
        shown.caption = f"first {max_rows} rows shown; --max-rows N for more, or --format csv|json|parquet for all"
    return shown


def _cell(value: object) -> Text:
    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, float):
        return Text(f"{value:.6g}")
    text = dumps_exact(value) if isinstance(value, dict | list) else str(value)
    return Text(text if len(text) <= 80 else text[:77] + "...")
