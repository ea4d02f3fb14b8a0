"""What a stage needs from earlier ones, checked before it starts work: each part of the workspace that is not
there yet is refused with a :class:`~propensity.errors.NotThereYetError` naming the command that makes it."""

from __future__ import annotations

from pathlib import Path

from propensity.config import Workspace
from propensity.errors import NotThereYetError


def _has_files(path: Path) -> bool:
    return path.is_dir() and any(path.rglob("*.parquet"))


def raw(ws: Workspace) -> None:
    """The raw tables (`propensity datagen`)."""
    if not _has_files(ws.raw_dir):
        raise NotThereYetError(f"no raw tables in {ws.raw_dir}; run `propensity datagen` first")


def offline(ws: Workspace, views: tuple[str, ...] | list[str]) -> None:
    """The offline data of ``views`` (`propensity features build`)."""
    empty = [view for view in views if not _has_files(ws.offline_dir / view)]
    if empty:
        raise NotThereYetError(
            f"no offline data for {', '.join(empty)} in {ws.offline_dir}; run `propensity features build` first"
        )


def registry(ws: Workspace) -> None:
    """Feast's registry of the workspace's views and services (`propensity features apply`)."""
    if not ws.registry_path.is_file():
        raise NotThereYetError(
            f"no Feast registry at {ws.registry_path}; run `propensity features apply` first (it registers the "
            f"feature views and services)"
        )


def labels(ws: Workspace) -> None:
    """The label rows (`propensity labels`)."""
    if not (ws.labels_dir / "labels.parquet").is_file():
        raise NotThereYetError(f"no label rows in {ws.labels_dir}; run `propensity labels` first")


def training_set(path: Path) -> None:
    """A training set at ``path`` (`propensity training-set`)."""
    if not _has_files(path):
        raise NotThereYetError(
            f"no training set at {path}; run `propensity run --from training-set` (or `propensity training-set`)"
        )
