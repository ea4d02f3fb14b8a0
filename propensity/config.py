"""The workspace: the one directory every command reads and writes.

It is chosen by ``--workdir``, else the ``PROPENSITY_WORKDIR`` environment variable, else ``data/`` at the
project root. Feast's ``feature_store.yaml`` in ``feature_repo/`` reads the same variable, so Feast's own CLI and
this package always agree on where the registry, the online store and the offline store live.

``PROPENSITY_OFFLINE_URI`` (an ``s3://bucket/prefix`` URI) puts the offline store that Feast, the Ray workers and
analysts read on an object store: the workspace keeps the copy the builds write, and every commit is mirrored
there (``propensity.offline_mirror``). Feast then uses ``feature_store.s3.yaml`` (its Dask offline store).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

WORKDIR_ENV = "PROPENSITY_WORKDIR"
OFFLINE_URI_ENV = "PROPENSITY_OFFLINE_URI"
FEAST_YAML_ENV = "FEAST_FS_YAML_FILE_PATH"  # Feast's own: the configuration file its CLI reads
FEATURE_REPO_DIRNAME = "feature_repo"
OBJECT_STORE_SCHEMES = ("s3",)


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
    """Paths of everything a pipeline run keeps; all of them live under ``root``, but for the object-store copy
    of the offline store at ``offline_uri`` when one is set."""

    model_config = ConfigDict(frozen=True)

    root: Path
    offline_uri: str | None = None

    @field_validator("offline_uri")
    @classmethod
    def _object_store_uri(cls, uri: str | None) -> str | None:
        if not uri:
            return None
        scheme, sep, rest = uri.partition("://")
        if not sep or scheme not in OBJECT_STORE_SCHEMES or not rest.split("/")[0]:
            raise ValueError(
                f"{OFFLINE_URI_ENV}={uri!r} is not an object-store URI; give s3://<bucket>/<prefix> (S3 or an "
                f"S3-compatible store, whose endpoint goes in AWS_ENDPOINT_URL), or unset it to keep the offline "
                f"store in the workspace"
            )
        if importlib.util.find_spec("s3fs") is None:
            raise ValueError(
                f"{OFFLINE_URI_ENV} needs s3fs (Feast's Dask offline store reads S3 through it): pip install -e '.[s3]'"
            )
        return uri.rstrip("/")

    @classmethod
    def resolve(cls, workdir: Path | str | None = None) -> Workspace:
        """The workspace named by ``workdir``, else by ``$PROPENSITY_WORKDIR``, else ``<project root>/data``; its
        offline store mirrored to ``$PROPENSITY_OFFLINE_URI`` when that is set."""
        chosen = workdir or os.environ.get(WORKDIR_ENV) or project_root() / "data"
        return cls(root=Path(chosen).expanduser().resolve(), offline_uri=os.environ.get(OFFLINE_URI_ENV))

    def activate(self) -> Workspace:
        """Export this workspace's settings (:meth:`feast_env`) so Feast and child processes use it too."""
        os.environ.update(self.feast_env())
        return self

    def feast_env(self) -> dict[str, str]:
        """The environment Feast's CLI needs for this workspace: its root, and with an object-store offline store
        the URI and the configuration file for it (:attr:`feast_yaml`)."""
        env = {WORKDIR_ENV: str(self.root)}
        if self.offline_uri:
            env[OFFLINE_URI_ENV] = self.offline_uri
            env[FEAST_YAML_ENV] = str(self.feast_yaml)
        return env

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
    def registry_path(self) -> Path:
        """Feast's registry, as every ``feature_store*.yaml`` of feature_repo/ names it."""
        return self.feast_dir / "registry.db"

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

    @property
    def feast_yaml(self) -> Path:
        """Feast's configuration file: ``$FEAST_FS_YAML_FILE_PATH``, else ``feature_store.s3.yaml`` (Feast's Dask
        offline store, which reads object stores) when the offline store has a URI, else ``feature_store.yaml``."""
        if chosen := os.environ.get(FEAST_YAML_ENV):
            return self.feature_repo / chosen
        return self.feature_repo / ("feature_store.s3.yaml" if self.offline_uri else "feature_store.yaml")
