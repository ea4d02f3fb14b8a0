"""The command line's one error handler: a project error prints one line naming flags, with exit status 2; any
other exception is a bug and surfaces with its traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from propensity.cli import app
from propensity.cli._errors import setting_flags, with_flags
from propensity.errors import BadInputError
from training.registry import ModelRegistry


def _list_models(workdir: Path) -> object:
    return CliRunner().invoke(app, ["models", "list", "--workdir", str(workdir)])


def test_bad_input_is_one_line_naming_the_flag_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ModelRegistry) -> list[dict]:
        raise BadInputError("`as_of` 2020-01-01 is before the data; `max_psi` too; `propensity labels` first")

    monkeypatch.setattr(ModelRegistry, "listing", refuse)
    result = _list_models(tmp_path)
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --as-of 2020-01-01 is before the data; --max-psi too; `propensity labels` first"
    )


def test_an_internal_bug_keeps_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(self: ModelRegistry) -> list[dict]:
        raise ValueError("a bug deep inside, not the user's input")

    monkeypatch.setattr(ModelRegistry, "listing", bug)
    result = _list_models(tmp_path)
    assert result.exit_code == 1
    assert isinstance(result.exception, ValueError) and result.exc_info is not None
    assert "error:" not in result.output


def test_an_internal_bug_prints_its_traceback_from_the_real_command(tmp_path: Path) -> None:
    script = (
        "import sys; from training.registry import ModelRegistry\n"
        "def bug(self): raise ZeroDivisionError('a bug')\n"
        "ModelRegistry.listing = bug\n"
        "from propensity.cli import app\n"
        f"sys.argv = ['propensity', 'models', 'list', '--workdir', {str(tmp_path)!r}]\n"
        "app()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "ZeroDivisionError: a bug" in result.stderr


def test_every_setting_name_means_one_flag_across_the_commands() -> None:
    root = typer.main.get_command(app)
    seen: dict[str, set[str]] = {}

    def walk(group: typer.core.TyperGroup) -> None:
        for command in group.commands.values():
            if isinstance(command, typer.core.TyperGroup):
                walk(command)
                continue
            single = typer.core.TyperGroup(commands={"c": command})
            for name, flag in setting_flags(single).items():
                seen.setdefault(name, set()).add(flag)

    walk(root)
    assert seen["as_of"] == {"--as-of"} and seen["format"] == {"--format"}
    assert {name: flags for name, flags in seen.items() if len(flags) > 1} == {}
    assert with_flags("`labels` and `fmt`, not `nothing_like_it`", setting_flags(root)) == (
        "--labels and --format, not `nothing_like_it`"
    )
