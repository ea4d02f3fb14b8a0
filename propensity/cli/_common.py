"""What every command shares: the workspace and Ray options, one-line errors and a progress bar."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from propensity.cli._ray_output import explain, is_ray_failure, route_stderr
from propensity.config import WORKDIR_ENV, Workspace

if TYPE_CHECKING:
    from propensity.datagen.output import ProgressCallback

console = Console(stderr=True)

WorkdirOption = Annotated[
    Path | None,
    typer.Option(
        "--workdir",
        envvar=WORKDIR_ENV,
        help="Workspace directory [default: data/ at the project root].",
        show_default=False,
    ),
]


RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        envvar="RAY_ADDRESS",
        help="Ray cluster to run on [default: a local Ray instance].",
        show_default=False,
    ),
]


def use_ray(context: typer.Context, ws: Workspace, address: str | None, log: Path | None = None) -> Path:
    """Run this process's Ray work on the cluster at ``address`` (default: ``RAY_ADDRESS``, else a local
    instance) and say which cluster that is. Until the command (``context``) ends, Ray's own messages go to
    ``log`` (default: ``reports/logs/<command>-<time>.log`` in the workspace), not to the terminal; returns it."""
    from propensity.raysession import cluster_summary, session_logs

    if address:
        os.environ["RAY_ADDRESS"] = address
    command = _command(context)
    log = log or ws.reports_dir / "logs" / f"{command.replace(' ', '-')}-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
    context.call_on_close(route_stderr(log, console))
    _note(log, f"{command} at {datetime.now(UTC).isoformat()}: Ray's messages follow")
    console.print(cluster_summary())
    _note(log, f"Ray's session logs (every worker's output): {session_logs()}")
    return log


def _note(log: Path, line: str) -> None:
    sys.stderr.flush()  # what Ray wrote so far comes first
    with log.open("a") as sink:
        sink.write(line + "\n")


@contextmanager
def ray_failures(stage: str, log: Path) -> Iterator[None]:
    """Turn a Ray failure (out of memory, a worker or node lost) in ``stage`` into a one-line error with a few
    lines of explanation; the full report goes to ``log``."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as error:
        if not is_ray_failure(error):
            raise
        fail(f"{stage}: {explain(error, stage, log)}")


def name_list(value: str) -> list[str] | None:
    """A comma-separated option's names; None for ``all``."""
    return None if value.strip() == "all" else [name.strip() for name in value.split(",") if name.strip()]


def parse_date(value: str | None, option: str) -> date | None:
    """The date an option gives as YYYY-MM-DD (None when not given); a one-line error otherwise."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError as error:
        fail(f"{option} {value!r} is not a date ({error}); use YYYY-MM-DD")


def workspace(workdir: Path | None) -> Workspace:
    """The workspace of a command, exported so Feast and child processes share it; data a killed writer left
    moved aside is put back first."""
    from propensity.workspace_lock import recover_if_idle

    try:
        ws = Workspace.resolve(workdir)
    except ValidationError as error:
        fail(error.errors()[0]["msg"].removeprefix("Value error, "))
    if ws.root.exists() and not ws.root.is_dir():
        fail(f"the workspace {ws.root} (--workdir or ${WORKDIR_ENV}) is not a directory; name a directory")
    ws = ws.activate()
    recover_if_idle(ws)
    return ws


def writing_workspace(context: typer.Context, workdir: Path | None) -> Workspace:
    """The workspace of a command that writes into it, locked until the command (``context``) ends; a one-line
    error when another command holds it."""
    from propensity.workspace_lock import WorkspaceBusyError, WorkspaceLock

    ws = workspace(workdir)
    lock = WorkspaceLock(ws, _command(context))
    try:
        lock.acquire()
    except WorkspaceBusyError as error:
        fail(str(error))
    context.call_on_close(lock.release)
    return ws


def _command(context: typer.Context) -> str:
    """``propensity <subcommand ...>`` however the program was started (``python -m propensity``, ...)."""
    names = []
    while context.parent is not None:
        names.append(context.info_name)
        context = context.parent
    return " ".join(["propensity", *reversed(names)])


def fail(message: str) -> NoReturn:
    """Print a one-line error and exit with status 2."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def describe_validation_error(error: ValidationError) -> str:
    """A pydantic error as one line: ``customers: Input should be greater than or equal to 1 (got -5)``."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        got = f" (got {item['input']!r})" if where else ""
        parts.append(f"{where}: {message}{got}" if where else message)
    return "; ".join(parts)


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressCallback]:
    """A progress bar on stderr, driven by a ``progress(done, total)`` callback."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
