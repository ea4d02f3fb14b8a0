"""The model registry: one versioned directory per category and model, and which version serves.

    models/<category>/v0003/model.ubj    the booster, in XGBoost's own format
    models/<category>/v0003/card.json    features, feature service, split, label, data fingerprint, metrics, versions
    models/<category>/v0003/plots/*.png  evaluation plots
    models/<category>/v0003/drift_reference.parquet  the train split's feature distribution (for drift checks)
    models/<category>/production.json    the serving version and the promotion history

Versions are numbered under a file lock, written aside and renamed into place; ``production.json`` is replaced
atomically, so readers see either the old or the new production model, never a mix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from filelock import FileLock
from pydantic import BaseModel, ConfigDict

from propensity.drift import DriftProfile
from propensity.errors import BadInputError
from propensity.storage import atomic_file, staged_directory
from training.matrix import MatrixLayout

if TYPE_CHECKING:  # XGBoost loads only where a booster is read or used: listing models stays light
    import xgboost as xgb

MODEL_FILE = "model.ubj"
CARD_FILE = "card.json"
PROFILE_FILE = "drift_reference.parquet"
PRODUCTION_FILE = "production.json"


class FeatureMismatchError(BadInputError):
    """A model's features differ from the feature service it is asked to score."""


class ModelCard(BaseModel):
    """Everything known about one trained model."""

    model_config = ConfigDict(frozen=True)

    category: str
    version: int = 0
    run_id: str
    created_at: datetime
    feature_service: str
    features: list[str]
    widths: list[int]
    vocabularies: list[list[str]]
    label: dict[str, object]
    split: dict[str, list[str]]
    data_fingerprint: str
    params: dict[str, object]
    positive_weight: float
    rounds: int
    metrics: dict[str, float]
    top_features: list[tuple[str, float]]
    versions: dict[str, str]

    @property
    def layout(self) -> MatrixLayout:
        """The matrix layout the model reads."""
        return MatrixLayout(tuple(self.features), tuple(self.widths), tuple(tuple(v) for v in self.vocabularies))


class Promotion(BaseModel):
    """One promotion of a version to production."""

    version: int
    at: datetime
    reason: str


class Production(BaseModel):
    """The serving version of a category and its history, newest last."""

    history: list[Promotion]

    @property
    def version(self) -> int:
        return self.history[-1].version


class RegisteredModel:
    """A booster with its card and its training data's drift profile (None for models registered before drift
    profiles existed), ready to score."""

    def __init__(self, card: ModelCard, booster: xgb.Booster, profile: DriftProfile | None):
        self.card = card
        self.booster = booster
        self.profile = profile

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """Calibrated purchase probabilities for rows laid out as ``card.layout``."""
        from training.booster import predict_proba

        return predict_proba(self.booster, matrix, self.card.positive_weight)

    def check_features(self, features: list[str], source: str) -> None:
        """Refuse to score rows of ``features`` (from ``source``, e.g. a feature service) unless they are exactly
        the model's features in the model's order."""
        if features == self.card.features:
            return
        missing = [f for f in self.card.features if f not in features]
        extra = [f for f in features if f not in self.card.features]
        detail = "; ".join(
            part
            for part in (
                f"missing from {source}: {_some(missing)}" if missing else "",
                f"not in the model: {_some(extra)}" if extra else "",
                "same features in another order" if not missing and not extra else "",
            )
            if part
        )
        raise FeatureMismatchError(
            f"model {self.card.category} v{self.card.version} was trained on {len(self.card.features)} features of "
            f"{self.card.feature_service!r}, {source} gives {len(features)}: {detail}; retrain the model on {source}"
        )


class ModelRegistry:
    """The registry under ``root`` (the workspace's ``models/``)."""

    def __init__(self, root: Path):
        self.root = root

    def register(
        self, card: ModelCard, booster: xgb.Booster, plots: dict[str, bytes], profile: DriftProfile
    ) -> ModelCard:
        """Store a new version of ``card.category``'s model; returns its card with the version number."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            version = max(self.versions(card.category), default=0) + 1
            card = card.model_copy(update={"version": version})
            with staged_directory(self._dir(card.category, version), overwrite=False) as staging:
                (staging / "plots").mkdir()
                booster.save_model(str(staging / MODEL_FILE))
                (staging / CARD_FILE).write_text(card.model_dump_json(indent=2) + "\n")
                profile.write(staging / PROFILE_FILE)
                for name, png in plots.items():
                    (staging / "plots" / f"{name}.png").write_bytes(png)
        return card

    def promote(self, category: str, version: int, reason: str) -> None:
        """Make ``version`` the production model of ``category``."""
        if version not in self.versions(category):
            raise KeyError(f"{category} has no model version {version}")
        with self._lock():
            current = self.production(category)
            history = [*(current.history if current else []), Promotion(version=version, at=_now(), reason=reason)]
            with atomic_file(self.root / category / PRODUCTION_FILE) as sink:
                sink.write((Production(history=history).model_dump_json(indent=2) + "\n").encode())

    def production(self, category: str) -> Production | None:
        """The production record of ``category``, or None before its first promotion."""
        path = self.root / category / PRODUCTION_FILE
        return Production.model_validate_json(path.read_text()) if path.is_file() else None

    def categories(self) -> list[str]:
        """Categories with at least one version."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, category: str) -> list[int]:
        """The version numbers of ``category``, oldest first."""
        directory = self.root / category
        if not directory.is_dir():
            return []
        return sorted(int(p.name[1:]) for p in directory.iterdir() if p.name[:1] == "v" and p.name[1:].isdigit())

    def card(self, category: str, version: int) -> ModelCard:
        """The card of one version."""
        return ModelCard.model_validate_json((self._dir(category, version) / CARD_FILE).read_text())

    def stage(self, category: str, version: int) -> str:
        """``production`` for the serving version, ``archived`` for earlier production ones, else ``candidate``."""
        production = self.production(category)
        if production is None:
            return "candidate"
        if production.version == version:
            return "production"
        return "archived" if any(p.version == version for p in production.history) else "candidate"

    def load(self, category: str, version: int | None = None) -> RegisteredModel:
        """A version of ``category``'s model (default: the production one)."""
        if version is None:
            production = self.production(category)
            if production is None:
                known = ", ".join(self.categories()) or "none"
                raise KeyError(f"no production model for {category!r} (categories with models: {known})")
            version = production.version
        import xgboost as xgb

        directory = self._dir(category, version)
        booster = xgb.Booster()
        booster.load_model(str(directory / MODEL_FILE))
        profile = DriftProfile.read(directory / PROFILE_FILE) if (directory / PROFILE_FILE).is_file() else None
        return RegisteredModel(self.card(category, version), booster, profile)

    def listing(self) -> list[dict[str, object]]:
        """Every version of every category: category, version, stage, created_at, run_id and metrics."""
        rows = []
        for category in self.categories():
            for version in self.versions(category):
                card = self.card(category, version)
                rows.append({
                    "category": category,
                    "version": version,
                    "stage": self.stage(category, version),
                    "created_at": card.created_at.isoformat(),
                    "run_id": card.run_id,
                    "feature_service": card.feature_service,
                    "metrics": card.metrics,
                })  # fmt: skip
        return rows

    def _dir(self, category: str, version: int) -> Path:
        return self.root / category / f"v{version:04d}"

    def _lock(self) -> FileLock:
        return FileLock(str(self.root / ".registry.lock"))


def _some(names: list[str], shown: int = 10) -> str:
    """Up to ``shown`` names, and how many more there are."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _now() -> datetime:
    return datetime.now(UTC)
