"""Writing a training set: entity rows joined point-in-time to a feature service (:mod:`training.training_set`),
written as Parquet; the workspace's own set records the digest of its inputs (:mod:`training.inputs`)."""

from __future__ import annotations

from pathlib import Path

from propensity.config import Workspace
from propensity.features.offline_store import OfflineStore
from propensity.progress import Progress
from training.config import TrainingSetRequest
from training.inputs import inputs_digest, record_inputs
from training.training_set import build_training_set, write_training_set


def join_training_set(ws: Workspace, request: TrainingSetRequest, progress: Progress | None = None) -> Path:
    """Join and write the training set ``request`` asks for; returns its directory. ``progress(rows joined,
    rows)`` follows the join."""
    if request.repo is None:
        OfflineStore(ws).ready()  # the join reads the object-store copy, when there is one
    own = request.is_workspace_set
    digest = inputs_digest(ws, request.feature_service) if own else None  # before the join: see training.inputs
    dataset = build_training_set(
        request.repo or ws.feature_repo,
        request.labels or ws.labels_dir,
        list(request.features) or request.feature_service,
        full_feature_names=request.full_feature_names,
        workers=request.workers,
        batch_rows=request.batch_rows,
        presorted=request.labels is None,  # the labels stage writes rows ordered by cutoff and customer
        progress=progress,
    )
    path = write_training_set(dataset, request.target(ws), overwrite=request.overwrite or request.out is None)
    record_inputs(path, digest)
    return path
