"""What a workspace's training set is joined from, as one digest: the labels' files, the feature service and its
views as registered in Feast (their specs: features, ttl, source path within the workspace), and the files of
those views in the offline store. A training set written with the digest of the current inputs is still current,
and ``propensity train`` trains on it instead of joining again.

The digest is computed before the join and recorded in the written directory (``_inputs.json``; readers skip
files starting with ``_``) after its rename, so a training set whose inputs changed during the join, or that was
written by a run killed before recording, is never taken for current.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from propensity.config import Workspace
from propensity.features.offline_store import OfflineStore
from propensity.offline_mirror import local_files
from propensity.storage import atomic_file

INPUTS_FILE = "_inputs.json"


def inputs_digest(ws: Workspace, feature_service: str) -> str | None:
    """The digest of the inputs of the workspace's training set for ``feature_service`` (see the module docs);
    ``None`` when the service is not registered (the join says so). Changes when labels are rebuilt, when ``feast
    apply`` changes a view or the service, and when a feature build rewrites or adds a file of one of its views."""
    from feast import FeatureStore  # here, not at the top: the Ray workers importing the trainer never need Feast
    from feast.errors import FeastObjectNotFoundException

    store = FeatureStore(repo_path=str(ws.feature_repo))
    try:
        service = store.get_feature_service(feature_service)
    except FeastObjectNotFoundException:
        return None
    spec = service.to_proto().spec
    for projection in spec.features:
        _within_workspace(projection.batch_source, ws)
    digest = hashlib.sha256(spec.SerializeToString(deterministic=True))
    offline = OfflineStore(ws)
    for projection in sorted(service.feature_view_projections, key=lambda p: p.name):
        view = store.get_feature_view(projection.name)
        spec = view.to_proto().spec
        _within_workspace(spec.batch_source, ws)
        digest.update(spec.SerializeToString(deterministic=True))
        digest.update(json.dumps(local_files(offline.view_dir(view.name)), sort_keys=True).encode())
    digest.update(json.dumps(local_files(ws.labels_dir), sort_keys=True).encode())
    return digest.hexdigest()


def _within_workspace(source: object, ws: Workspace) -> None:
    """Name a registered source (a DataSource proto) by its path within the workspace, so that a copied or moved
    workspace keeps a current training set current."""
    options = source.file_options  # type: ignore[attr-defined]
    if options.uri and Path(options.uri).is_relative_to(ws.root):
        options.uri = str(Path(options.uri).relative_to(ws.root))


def record_inputs(training_set: Path, digest: str | None) -> None:
    """Record ``digest`` as the inputs the training set in ``training_set`` was joined from (nothing for
    ``None``)."""
    if digest is None:
        return
    with atomic_file(training_set / INPUTS_FILE) as sink:
        sink.write(json.dumps({"digest": digest}).encode())


def current_training_set(ws: Workspace, feature_service: str) -> Path | None:
    """The workspace's training set for ``feature_service`` when it was joined from the current inputs, else
    ``None`` (none written, written before recording existed, its inputs changed since, or the service is no
    longer registered)."""
    recorded = ws.training_sets_dir / feature_service / INPUTS_FILE
    if not recorded.is_file():
        return None
    current = inputs_digest(ws, feature_service)
    return recorded.parent if current and json.loads(recorded.read_text())["digest"] == current else None
