"""The model registry: versions round-trip, promotion history and stages, refusal of a feature mismatch."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from propensity.drift import DriftProfile
from training.booster import predict_proba
from training.registry import FeatureMismatchError, ModelCard, ModelRegistry

FEATURES = ["orders_30d", "spend_30d", "region"]


def _model(seed: int) -> tuple[ModelCard, xgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    matrix = rng.random((200, 3), dtype=np.float32)
    labels = (matrix[:, 0] + rng.random(200) > 1.2).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "seed": seed}, xgb.DMatrix(matrix, labels), 5)
    card = ModelCard(
        category="mugs",
        run_id=f"run-{seed}",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        feature_service="propensity_v1",
        features=FEATURES,
        widths=[0, 0, 0],
        vocabularies=[[], [], ["north", "south"]],
        label={"column": "label_mugs"},
        split={"train": ["2025-01-01"], "validation": ["2025-02-01"], "test": ["2025-03-01"], "dropped": []},
        data_fingerprint="abc",
        params={"max_depth": 6},
        positive_weight=3.0,
        rounds=5,
        metrics={"roc_auc": 0.7 + seed / 100},
        top_features=[("orders_30d", 1.0)],
        versions={"xgboost": xgb.__version__},
    )
    return card, booster, matrix


def _register(registry: ModelRegistry, seed: int) -> ModelCard:
    card, booster, matrix = _model(seed)
    return registry.register(card, booster, {}, DriftProfile.of(matrix, FEATURES))


def test_a_registered_model_loads_back_equal(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    card, booster, matrix = _model(1)
    profile = DriftProfile.of(matrix, FEATURES)
    stored = registry.register(card, booster, {"roc": b"\x89PNG"}, profile)
    loaded = registry.load("mugs", stored.version)
    assert stored.version == 1 and loaded.card == stored
    assert loaded.profile.columns == profile.columns
    for got, want in zip(loaded.profile.edges + loaded.profile.shares, profile.edges + profile.shares, strict=True):
        np.testing.assert_array_equal(got, want)
    assert loaded.card.model_dump(exclude={"version"}) == card.model_dump(exclude={"version"})
    np.testing.assert_array_equal(loaded.predict_proba(matrix), predict_proba(booster, matrix, 3.0))
    assert (tmp_path / "models" / "mugs" / "v0001" / "plots" / "roc.png").read_bytes() == b"\x89PNG"
    assert not [p for p in (tmp_path / "models" / "mugs").iterdir() if p.name.startswith(".")]


def test_versions_count_up_and_stages_follow_the_promotions(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    versions = [_register(registry, seed).version for seed in range(3)]
    assert versions == [1, 2, 3]
    assert [registry.stage("mugs", v) for v in versions] == ["candidate"] * 3
    with pytest.raises(KeyError, match="no production model"):
        registry.load("mugs")
    registry.promote("mugs", 1, "first")
    registry.promote("mugs", 3, "better")
    assert [registry.stage("mugs", v) for v in versions] == ["archived", "candidate", "production"]
    assert registry.load("mugs").card.version == 3
    assert [p.version for p in registry.production("mugs").history] == [1, 3]
    listing = registry.listing()
    assert [(r["version"], r["stage"], r["metrics"]["roc_auc"]) for r in listing] == [
        (1, "archived", 0.7),
        (2, "candidate", 0.71),
        (3, "production", 0.72),
    ]
    with pytest.raises(KeyError, match="no model version 9"):
        registry.promote("mugs", 9, "missing")


def test_scoring_other_features_is_refused_naming_them(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    _register(registry, 1)
    model = registry.load("mugs", 1)
    model.check_features(list(FEATURES), "propensity_v1")  # the same features pass
    with pytest.raises(FeatureMismatchError, match=r"missing from online_profile: spend_30d.*not in the model: tenure"):
        model.check_features(["orders_30d", "region", "tenure"], "online_profile")
    with pytest.raises(FeatureMismatchError, match="another order"):
        model.check_features(list(reversed(FEATURES)), "propensity_v1")
