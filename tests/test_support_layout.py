"""The tests' own layout: a test module takes its helpers from tests/support or from its own folder's helper
module, never from ``conftest`` or from another ``test_*`` module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def imported(path: Path, source: str) -> Iterator[tuple[str, ...]]:
    """The dotted paths, as parts, of what ``source`` (the module at ``path``) imports; ``from a import b`` gives
    ``a.b``, as ``b`` may be a module."""
    package = path.relative_to(ROOT).parent.parts
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            yield from (tuple(alias.name.split(".")) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = (*base, *(node.module.split(".") if node.module else ()))
            yield from ((*module, alias.name) for alias in node.names)


def offences(path: Path, source: str) -> list[str]:
    """The imports of tests' code in ``source`` that break the layout, each with what is wrong with it."""
    folder = path.relative_to(ROOT).parent.parts
    found = []
    for parts in imported(path, source):
        if parts[0] != "tests" or parts[:2] == ("tests", "support"):
            continue
        name = ".".join(parts)
        module = ROOT.joinpath(*parts[: len(folder) + 1]).with_suffix(".py")  # if it is of the importer's folder
        if any(part == "conftest" or part.startswith("test_") for part in parts):
            found.append(f"{name}: from conftest or a test module")
        elif parts[: len(folder)] != folder or not module.is_file():
            found.append(f"{name}: neither from tests/support nor from a helper module of its own folder")
    return found


def test_test_code_imports_helpers_only_from_support_or_its_own_folder() -> None:
    broken = [
        f"{path.relative_to(ROOT)}: {offence}"
        for path in sorted(TESTS.rglob("*.py"))
        for offence in offences(path, path.read_text())
    ]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("path", "source", "wrong"),
    [
        ("tests/cli/test_x.py", "from tests.conftest import copy_workspace", "from conftest"),
        ("tests/cli/test_x.py", "from tests import conftest", "from conftest"),
        ("tests/training/test_x.py", "from tests.training.test_training_set import assert_same_rows", "test module"),
        ("tests/training/test_x.py", "from .test_training_set import assert_same_rows", "test module"),
        ("tests/support/x.py", "from tests.test_offline_mirror import rewrite", "test module"),
        ("tests/cli/test_x.py", "from tests.training.cases import make_repo", "own folder"),
        ("tests/test_x.py", "from tests.training.cases import make_repo", "own folder"),
        ("tests/training/test_x.py", "from tests.training.cases import make_repo", None),
        ("tests/training/test_x.py", "from . import cases", None),
        ("tests/cli/test_x.py", "from tests.support.workspaces import copy_workspace", None),
        ("tests/cli/test_x.py", "import tests.support.raw", None),
        ("tests/cli/test_x.py", "from propensity.config import Workspace", None),
    ],
)
def test_the_layout_check_tells_wrong_imports_from_right_ones(path: str, source: str, wrong: str | None) -> None:
    found = offences(ROOT / path, source)
    assert [wrong in offence for offence in found] == ([True] if wrong else [])
