"""Every "not there yet" error names the command that makes the missing part: each command run on an empty
workspace, and on copies of the small workspace that lack one step (its Feast registry, its offline store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from propensity.cli import app
from propensity.config import Workspace
from tests.support.workspaces import copy_workspace


def _fails_naming(args: list[str], workdir: Path, command: str) -> str:
    result = CliRunner().invoke(app, [*args, "--workdir", str(workdir)])
    assert result.exit_code == 2, result.output
    assert f"`{command}`" in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["features", "build"], "propensity datagen"),
        (["features", "apply"], "propensity datagen"),
        (["features", "materialize"], "propensity datagen"),
        (["features", "check"], "propensity features apply"),
        (["labels"], "propensity datagen"),
        (["training-set"], "propensity labels"),
        (["train"], "propensity labels"),
        (["score"], "propensity features apply"),
        (["report", "coverage"], "propensity features build"),
        (["report", "drift"], "propensity features build"),
        (["report", "lift"], "propensity score"),
        (["report", "scores"], "propensity score"),
    ],
)
def test_each_command_on_an_empty_workspace_names_the_first_step(
    isolated_workspace: Path, args: list[str], command: str
) -> None:
    _fails_naming(args, isolated_workspace, command)
    assert not (isolated_workspace / "raw").exists()  # nothing was started


@pytest.mark.parametrize(
    ("stage", "command"),
    [
        ("materialize", "propensity datagen"),
        ("labels", "propensity datagen"),
        ("training-set", "propensity labels"),
        ("train", "propensity run --from training-set"),
        ("score", "propensity features apply"),
        ("analytics", "propensity score"),
    ],
)
def test_each_stage_of_run_on_an_empty_workspace_names_the_step(
    isolated_workspace: Path, ray_session, stage: str, command: str
) -> None:
    output = _fails_naming(["run", "--from", stage, "--to", stage], isolated_workspace, command)
    assert f"resume with `propensity run --from {stage}`" in " ".join(output.split())


def test_training_after_building_features_and_labels_but_before_apply_names_features_apply(
    small_workspace: Workspace, tmp_path: Path, ray_session
) -> None:
    ws = copy_workspace(small_workspace, tmp_path / "ws", ("raw", "offline", "labels"), registry=False)
    for args in (["train"], ["training-set"], ["run", "--from", "training-set"], ["features", "materialize"]):
        _fails_naming(args, ws.root, "propensity features apply")
    assert not ws.training_sets_dir.exists() and not ws.models_dir.exists()


def test_serving_before_building_the_offline_store_names_features_build(
    small_workspace: Workspace, tmp_path: Path
) -> None:
    ws = copy_workspace(small_workspace, tmp_path / "ws", ("raw",), registry=False)
    _fails_naming(["features", "materialize"], ws.root, "propensity features build")


def test_scoring_before_training_names_train(small_workspace: Workspace, tmp_path: Path, ray_session) -> None:
    ws = copy_workspace(small_workspace, tmp_path / "ws", ("raw", "offline", "labels"))
    _fails_naming(["score"], ws.root, "propensity train")
    listing = CliRunner().invoke(app, ["models", "list", "--workdir", str(ws.root)])
    assert listing.exit_code == 0 and "run `propensity train`" in listing.output
