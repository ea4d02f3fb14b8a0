"""The layer contract (``[tool.importlinter]`` in pyproject.toml, drawn in docs/ARCHITECTURE.md): each layer
imports only the layers below it. Checked on the code as it is, and shown to catch a lower layer importing a
higher one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("propensity", "training", "inference")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    lint_imports = str(Path(sys.executable).parent / "lint-imports")
    command = [lint_imports, "--config", str(root / "pyproject.toml"), "--no-cache"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)


def test_every_layer_imports_only_the_layers_below_it() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken" in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    storage = tmp_path / "propensity" / "storage.py"
    storage.write_text(storage.read_text() + "\nimport training.trainer  # the storage layer reaching up\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "propensity.storage is not allowed to import training" in result.stdout, result.stdout
