"""``propensity sql`` and ``propensity report ...``: read-only DuckDB analytics over the workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.markup import escape

from propensity.analytics.views import WorkspaceViews
from propensity.cli._common import WorkdirOption, console, parse_date, workspace
from propensity.cli._results import Format, show_result
from propensity.cli.shell import Shell
from propensity.config import Workspace
from propensity.errors import BadInputError

app = typer.Typer(rich_markup_mode=None, help="Canned reports on the workspace (read-only).", no_args_is_help=True)
results = Console()  # results go to stdout, messages to stderr

FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table | csv | json | parquet (needs --out).")]
OutOption = Annotated[
    Path | None, typer.Option(help="Write the result to this file (atomically) instead of stdout.", show_default=False)
]
MaxRowsOption = Annotated[int, typer.Option(min=1, help="Rows a table shows.")]
TimeoutOption = Annotated[
    float | None,
    typer.Option(min=0.001, help="Stop a query after this many seconds (Ctrl-C stops it too).", show_default=False),
]
ViewOption = Annotated[str | None, typer.Option(help="One feature view, per feature [default: every view].")]


def sql(
    query: Annotated[str | None, typer.Argument(help="One SQL statement; none opens an interactive shell.")] = None,
    workdir: WorkdirOption = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
    max_rows: MaxRowsOption = 50,
    timeout: TimeoutOption = None,
) -> None:
    """Query every offline dataset of the workspace with DuckDB: raw_<table>, each feature view, scores, labels,
    training_set_<service>, model_metrics, score_drift. Read-only: only SELECT, DESCRIBE, SUMMARIZE, EXPLAIN."""
    ws = workspace(workdir)
    if query is not None:
        _emit(ws, lambda views: views.query(query), fmt, out, max_rows, timeout)
        return
    if out is not None or fmt == "parquet":
        raise BadInputError("the shell prints its results; give a query to write --out or --format parquet")
    views = WorkspaceViews(ws, timeout)
    raise typer.Exit(1 if Shell(views, results, console, fmt, max_rows).run() else 0)


@app.command()
def lift(
    workdir: WorkdirOption = None,
    scored_at: Annotated[
        str | None, typer.Option("--date", help="Scoring date [default: the latest whose outcomes are known].")
    ] = None,
    horizon_days: Annotated[
        int | None, typer.Option(min=1, help="Days to look for purchases [default: the labels' horizon].")
    ] = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
    max_rows: MaxRowsOption = 300,
    timeout: TimeoutOption = None,
) -> None:
    """Realised precision and lift by score decile per category: who bought within the horizon after a scoring
    date, compared with what the published scores ranked."""
    ws = workspace(workdir)
    day = parse_date(scored_at, "--date")
    _emit(
        ws, lambda views: _reports().lift(views, scored_at=day, horizon_days=horizon_days), fmt, out, max_rows, timeout
    )


@app.command()
def coverage(
    workdir: WorkdirOption = None,
    snapshot: Annotated[str | None, typer.Option("--date", help="Snapshot date [default: each view's latest].")] = None,
    view: ViewOption = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
    max_rows: MaxRowsOption = 50,
    timeout: TimeoutOption = None,
) -> None:
    """Null rates per feature view (or per feature of --view) at one snapshot."""
    ws = workspace(workdir)
    day = parse_date(snapshot, "--date")
    _emit(ws, lambda views: _reports().coverage(views, snapshot=day, view=view), fmt, out, max_rows, timeout)


@app.command()
def drift(
    workdir: WorkdirOption = None,
    base: Annotated[str | None, typer.Option(help="Reference snapshot [default: the one before --current].")] = None,
    current: Annotated[str | None, typer.Option(help="Snapshot compared [default: the latest].")] = None,
    view: ViewOption = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
    max_rows: MaxRowsOption = 30,
    timeout: TimeoutOption = None,
) -> None:
    """PSI of every numeric feature between two snapshot dates, most drifted first (0.1-0.25 moderate, above
    0.25 large)."""
    ws = workspace(workdir)
    start, end = parse_date(base, "--base"), parse_date(current, "--current")
    _emit(ws, lambda views: _reports().drift(views, base=start, current=end, view=view), fmt, out, max_rows, timeout)


@app.command()
def scores(
    workdir: WorkdirOption = None,
    scored_at: Annotated[str | None, typer.Option("--date", help="Scoring date [default: the latest].")] = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
    max_rows: MaxRowsOption = 100,
    timeout: TimeoutOption = None,
) -> None:
    """The distribution of each category's published scores on one scoring date."""
    ws = workspace(workdir)
    day = parse_date(scored_at, "--date")
    _emit(ws, lambda views: _reports().scores(views, scored_at=day), fmt, out, max_rows, timeout)


def _reports() -> ModuleType:
    """The canned reports, loaded when one runs (they read the feature pipeline's helpers, which load Ray)."""
    from propensity.analytics import reports

    return reports


def _emit(
    ws: Workspace,
    result: Callable[[WorkspaceViews], duckdb.DuckDBPyRelation],
    fmt: Format,
    out: Path | None,
    max_rows: int,
    timeout: float | None,
) -> None:
    """Compute ``result`` on the workspace's views (stopped by Ctrl-C or after ``timeout`` seconds) and write it,
    refusing an ``out`` inside the workspace's data (reports/ aside)."""
    if out is not None:
        out = out.expanduser()  # as given: /dev/stdout resolves to a name that cannot be opened again
        where = out.resolve()
        if where.is_relative_to(ws.root) and not where.is_relative_to(ws.reports_dir):
            raise BadInputError(
                f"--out {where} is inside the workspace's data; analytics never write there (reports/ is allowed)"
            )
    views = WorkspaceViews(ws, timeout)
    with views.stoppable():
        rows = views.interruptible(lambda: show_result(result(views), fmt, out=out, console=results, max_rows=max_rows))
    if out is not None:
        console.print(f"[bold green]done[/]: {rows:,} rows in {escape(str(out))}")
