"""The project's errors: one root, a few kinds. Each is a problem the user can fix, and its message says what is
wrong and how to fix it, naming settings (the command line maps them to its flags). Anything else raised is a bug
and shows its traceback."""

from __future__ import annotations


class PropensityError(Exception):
    """Root of every error the project raises on purpose."""

    exit_code = 2  # of the command that stops on it


class BadInputError(PropensityError, ValueError):
    """An option, setting or input file is wrong."""


class NotThereYetError(PropensityError, FileNotFoundError):
    """A part of the workspace that an earlier step makes is missing; the message names that step."""


class ConflictError(PropensityError):
    """The work would clash with existing data or with another process (output exists, workspace busy)."""


class DamagedDataError(PropensityError, ValueError):
    """Data on disk is damaged or disagrees with what describes it; the message names the step that remakes it."""
