"""What every command shares: the workspace and Ray options, settings checked into one-line errors, a progress
bar."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Annotated

import typer
from pydantic import ValidationError
from rich import progress as bars
from rich.console import Console
from rich.markup import escape

from propensity.cli._ray_output import explain, is_ray_failure, route_stderr
from propensity.config import WORKDIR_ENV, Workspace
from propensity.errors import BadInputError, PropensityError
from propensity.progress import Progress
from propensity.stages import Options, Result, Stage

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


class RayFailureError(PropensityError):
    """Ray lost a worker, an actor or a node, or stopped one when memory ran out."""


class RayFailures(AbstractContextManager[None]):
    """Within it, a Ray failure in ``stage`` (out of memory, a worker or node lost) becomes a
    :class:`RayFailureError` of a few lines, its full report in ``log``; every other error passes unchanged."""

    def __init__(self, stage: str, log: Path):
        self.stage = stage
        self.log = log

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if isinstance(error, Exception) and not isinstance(error, PropensityError) and is_ray_failure(error):
            raise RayFailureError(explain(error, self.stage, self.log)) from error


def name_list(value: str) -> list[str] | None:
    """A comma-separated option's names; None for ``all``."""
    return None if value.strip() == "all" else [name.strip() for name in value.split(",") if name.strip()]


def parse_date(value: str | None, option: str) -> date | None:
    """The date an option gives as YYYY-MM-DD (None when not given)."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError as error:
        raise BadInputError(f"{option} {value!r} is not a date ({error}); use YYYY-MM-DD") from None


@contextmanager
def settings() -> Iterator[None]:
    """Turn pydantic's complaint about settings built from options into a :class:`BadInputError` of one line
    (``customers: Input should be greater than or equal to 1 (got -5)``)."""
    try:
        yield
    except ValidationError as error:
        raise BadInputError(describe_validation_error(error)) from None


def workspace(workdir: Path | None) -> Workspace:
    """The workspace of a command, exported so Feast and child processes share it; data a killed writer left
    moved aside is put back first."""
    from propensity.workspace_lock import recover_if_idle

    try:
        ws = Workspace.resolve(workdir)
    except ValidationError as error:
        raise BadInputError(error.errors()[0]["msg"].removeprefix("Value error, ")) from None
    if ws.root.exists() and not ws.root.is_dir():
        raise BadInputError(
            f"the workspace {ws.root} (--workdir or ${WORKDIR_ENV}) is not a directory; name a directory"
        )
    ws = ws.activate()
    recover_if_idle(ws)
    return ws


def writing_workspace(context: typer.Context, workdir: Path | None) -> Workspace:
    """The workspace of a command that writes into it, locked until the command (``context``) ends; a one-line
    error when another command holds it."""
    from propensity.workspace_lock import WorkspaceLock

    ws = workspace(workdir)
    lock = WorkspaceLock(ws, _command(context))
    lock.acquire()
    context.call_on_close(lock.release)
    return ws


def _command(context: typer.Context) -> str:
    """``propensity <subcommand ...>`` however the program was started (``python -m propensity``, ...)."""
    names = []
    while context.parent is not None:
        names.append(context.info_name)
        context = context.parent
    return " ".join(["propensity", *reversed(names)])


def report_error(message: str) -> None:
    """Print an error message (one line, or a few) on stderr."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def describe_validation_error(error: ValidationError) -> str:
    """A pydantic error as one line naming each setting: ```customers`: Input should be >= 1 (got -5)``."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        got = f" (got {item['input']!r})" if where else ""
        parts.append(f"`{where}`: {message}{got}" if where else message)
    return "; ".join(parts)


@contextmanager
def progress_bar(description: str) -> Iterator[Progress]:
    """A progress bar on stderr, driven by a ``progress(done, total)`` callback."""
    with bars.Progress(
        bars.TextColumn("{task.description}"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def run_stage(
    context: typer.Context,
    stage: Stage[Options, Result],
    options: Options,
    workdir: Path | None,
    ray_address: str | None = None,
    *,
    bar: str | None = None,
) -> tuple[Workspace, Result]:
    """Run ``stage`` with ``options`` as a command: lock the workspace, refuse what is not there yet, start Ray
    when the stage uses it, follow it with a progress bar titled ``bar`` (none without), and return the workspace
    and the stage's result."""
    ws = writing_workspace(context, workdir)  # after the options: a refused command creates no workspace
    stage.check(ws, options)
    with ExitStack() as stack:
        if stage.uses_ray:
            stack.enter_context(RayFailures(stage.name, use_ray(context, ws, ray_address)))
        progress = stack.enter_context(progress_bar(bar)) if bar else _no_progress
        return ws, stage.run(ws, options, progress)


def _no_progress(done: int, total: int) -> None:
    """Progress nobody follows (Feast's own output is on the terminal)."""
