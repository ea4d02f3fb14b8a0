"""Workspaces for tests: built from synthetic data with features and a Feast registry, or copied from one."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from propensity.config import Workspace
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic
from propensity.features.embedding import product_embeddings_dir
from propensity.features.feast_cli import run_feast
from propensity.features.pipeline import BuildConfig, build_features

MODEL_SEED = 3  # the model workspace's; other workspaces share it to share its product embeddings
_EMBEDDINGS: dict[int, Path] = {}  # seed -> the product embedding cache of a workspace built with it


def feature_workspace(root: Path, *, customers: int, end: date, seed: int) -> Workspace:
    """A workspace in ``root``: synthetic customers from 2024-01-01 to ``end``, features built in 2 buckets and
    applied to Feast's registry (needs Ray: the product text embeddings run on it). The products depend on the
    seed only, so a later workspace of the same seed starts with the first one's embedding cache, as a user's
    second build does."""
    ws = Workspace.resolve(root)
    generate_synthetic(SyntheticConfig(customers=customers, end=end, seed=seed), ws.raw_dir, workers=1)
    if seed in _EMBEDDINGS:
        shutil.copytree(_EMBEDDINGS[seed], product_embeddings_dir(ws))
    build_features(ws, config=BuildConfig(buckets=2))
    _EMBEDDINGS.setdefault(seed, product_embeddings_dir(ws))
    assert run_feast(ws, ["apply"]).returncode == 0
    return ws


def copy_workspace(
    source: Workspace, root: Path, parts: tuple[str, ...] = ("raw", "offline", "labels"), *, registry: bool = True
) -> Workspace:
    """``parts`` of ``source`` copied into ``root``, active, with a Feast registry of its own unless not
    ``registry``: applied afresh (a copied registry would name the source's files)."""
    ws = Workspace.resolve(root).activate()
    for part in parts:
        shutil.copytree(source.root / part, ws.root / part)
    if registry:
        assert run_feast(ws, ["apply"], capture=True).returncode == 0
    return ws
