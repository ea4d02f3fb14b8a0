"""An interactive DuckDB shell on a workspace's views: statements end with ``;``, dot-commands manage the session.
Every statement passes the same read-only gate as ``propensity sql``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import TextIO, get_args

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from propensity.analytics.views import WorkspaceViews
from propensity.cli._results import Format, show_result
from propensity.errors import PropensityError

HELP = """.tables            the views and what they hold
.format FORMAT     table, csv or json (parquet needs `propensity sql --out`)
.rows N            rows shown per table
.help              this text
.quit              leave (or Ctrl-D)
Statements end with `;`. Only SELECT, DESCRIBE, SUMMARIZE and EXPLAIN run: the workspace is read-only here."""


class Shell:
    """The read-eval-print loop; ``run`` returns how many statements failed."""

    def __init__(
        self, views: WorkspaceViews, console: Console, errors: Console, fmt: Format = "table", max_rows: int = 50
    ):
        self.views = views
        self.console = console  # results
        self.errors = errors  # messages
        self.fmt: Format = fmt
        self.max_rows = max_rows
        self.failures = 0

    def run(self, stream: TextIO | None = None) -> int:
        """Read statements from ``stream`` (default: stdin; with prompts and line editing when it is a terminal)
        until EOF or ``.quit``."""
        stream = stream or sys.stdin
        interactive = stream.isatty()
        if interactive:
            import readline  # noqa: F401  (line editing and history for input())

            self.errors.print(f"{len(self.views.views)} views; .tables lists them, .help for commands")
        buffer = ""

        def prompt() -> str:
            return "      ...> " if buffer else "propensity> "

        for line in _lines(stream, interactive, prompt):
            if line is None:  # Ctrl-C drops the statement being typed
                buffer = ""
                continue
            if not buffer and line.strip().startswith("."):
                if not self.command(line.strip()):
                    break
                continue
            buffer += line + "\n"
            if buffer.rstrip().endswith(";"):
                self.execute(buffer)
                buffer = ""
        if buffer.strip():
            self.execute(buffer)
        return self.failures

    def execute(self, sql: str) -> None:
        """Run each statement of ``sql`` and show its result; errors (a statement stopped by Ctrl-C or the timeout
        too) are printed, not raised."""
        try:
            for statement in self.views.statements(sql):
                with self.views.stoppable():
                    self.views.interruptible(
                        lambda query=statement.query: show_result(
                            self.views.query(query), self.fmt, console=self.console, max_rows=self.max_rows
                        )
                    )
        except PropensityError as error:
            self.failures += 1
            self.errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)

    def command(self, line: str) -> bool:
        """Apply a dot-command; False when it ends the session."""
        name, _, argument = line.partition(" ")
        argument = argument.strip()
        if name in (".quit", ".exit"):
            return False
        if name == ".tables":
            table = Table("view", "holds")
            for view, what in self.views.views.items():
                table.add_row(view, what)
            self.console.print(table)
        elif name == ".format" and argument in get_args(Format) and argument != "parquet":
            self.fmt = argument  # type: ignore[assignment]
        elif name == ".rows" and argument.isdigit() and int(argument) > 0:
            self.max_rows = int(argument)
        elif name == ".help":
            self.console.print(HELP, highlight=False, markup=False)
        else:
            self.failures += 1
            command = escape(repr(line))
            self.errors.print(f"[bold red]error:[/] unknown or incomplete command {command}; .help lists them")
        return True


def _lines(stream: TextIO, interactive: bool, prompt: Callable[[], str]) -> Iterator[str | None]:
    if not interactive:
        yield from (line.rstrip("\n") for line in stream)
        return
    while True:
        try:
            yield input(prompt())
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            print("^C")
            yield None
