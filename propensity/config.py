"""The workspace: the one directory every command reads and writes.

It is chosen by ``--workdir``, else the ``PROPENSITY_WORKDIR`` environment variable, else ``data/`` at the
project root. Feast's ``feature_store.yaml`` in ``feature_repo/`` reads the same variable, so Feast's own CLI and
this package always agree on where the registry, the online store and the offline store live.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

WORKDIR_ENV = "PROPENSITY_WORKDIR"
FEATURE_REPO_DIRNAME = "feature_repo"


def project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: the working directory) holding ``feature_repo/``.

    Falls back to the checkout this package was installed from, then to ``start`` itself.
    """
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / FEATURE_REPO_DIRNAME / "feature_store.yaml").is_file():
            return candidate
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / FEATURE_REPO_DIRNAME / "feature_store.yaml").is_file():
        return checkout
    return here


class Workspace(BaseModel):
    """Paths of everything a pipeline run keeps; all of them live under ``root``."""

    model_config = ConfigDict(frozen=True)

    root: Path

    @classmethod
    def resolve(cls, workdir: Path | str | None = None) -> Workspace:
        """The workspace named by ``workdir``, else by ``$PROPENSITY_WORKDIR``, else ``<project root>/data``."""
        chosen = workdir or os.environ.get(WORKDIR_ENV) or project_root() / "data"
        return cls(root=Path(chosen).expanduser().resolve())

    def activate(self) -> Workspace:
        """Export this workspace as ``$PROPENSITY_WORKDIR`` so Feast (and child processes) use it too."""
        os.environ[WORKDIR_ENV] = str(self.root)
        return self

    @property
    def raw_dir(self) -> Path:
        """Raw tables written by ``propensity datagen``: one Parquet dataset per table."""
        return self.root / "raw"

    @property
    def offline_dir(self) -> Path:
        """The offline store: one Parquet dataset per feature view."""
        return self.root / "offline"

    @property
    def feast_dir(self) -> Path:
        """Feast's registry and SQLite online store."""
        return self.root / "feast"

    @property
    def labels_dir(self) -> Path:
        """Labels written by ``propensity labels``: the entity rows of training sets."""
        return self.root / "labels"

    @property
    def training_sets_dir(self) -> Path:
        """Training sets written by ``propensity training-set``, one directory per feature service."""
        return self.root / "training_sets"

    @property
    def models_dir(self) -> Path:
        """The model registry."""
        return self.root / "models"

    @property
    def reports_dir(self) -> Path:
        """Run reports, e.g. ``reports/train-<run id>/report.html``."""
        return self.root / "reports"

    @property
    def feature_repo(self) -> Path:
        """The Feast repository whose ``feature_store.yaml`` points at this workspace."""
        return project_root() / FEATURE_REPO_DIRNAME
