"""The one place the command line handles errors: the project's errors (:mod:`propensity.errors`) print as one
line (or a few) with their exit status, the settings they name shown as the command's flags; anything else is a
bug and keeps its traceback."""

from __future__ import annotations

import re

import typer
from typer.core import TyperGroup, TyperOption

from propensity.cli._common import report_error
from propensity.errors import PropensityError

_SETTING = re.compile(r"`([a-z][a-z0-9_]*)`")


class Commands(TyperGroup):
    """The root command group: runs a command, and reports a :class:`PropensityError` it raises."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except PropensityError as error:
            cause = getattr(error, "cause", None)  # a Ray task's error is an instance of its cause, told by it
            shown = cause if isinstance(cause, PropensityError) else error
            report_error(with_flags(str(shown), setting_flags(self)))
            raise typer.Exit(shown.exit_code) from None


def setting_flags(group: TyperGroup) -> dict[str, str]:
    """Every setting name of the commands under ``group`` and the flag that sets it: ``as_of`` and
    ``--as-of``; an option's parameter name (``labels_path``) and its flag's own name (``labels``) both map."""
    flags: dict[str, str] = {}
    for command in group.commands.values():
        if isinstance(command, TyperGroup):
            flags |= setting_flags(command)
            continue
        for param in command.params:
            long = [opt for opt in param.opts if opt.startswith("--")] if isinstance(param, TyperOption) else []
            if long and param.name:
                flags[param.name] = long[0]
                flags[long[0].removeprefix("--").replace("-", "_")] = long[0]
    return flags


def with_flags(message: str, flags: dict[str, str]) -> str:
    """``message`` with each setting it names in backquotes (```as_of```) written as its flag (``--as-of``)."""
    return _SETTING.sub(lambda match: flags.get(match[1], match[0]), message)
