"""The production models a scoring run uses, each checked against the Feast feature service it reads."""

from __future__ import annotations

from feast import FeatureStore

from inference.scorer import ScoringModel
from propensity.errors import BadInputError, NotThereYetError
from training.registry import ModelRegistry
from training.resolve import resolve_plan


def production_models(registry: ModelRegistry, store: FeatureStore, categories: list[str] | None) -> list[ScoringModel]:
    """The production model of each of ``categories`` (default: every category that has one), refusing a model
    whose features differ from its feature service's (see ``RegisteredModel.check_features``)."""
    available = [c for c in registry.categories() if registry.production(c) is not None]
    if not available:
        raise NotThereYetError(f"no production model in {registry.root}: run `propensity train` first")
    unknown = sorted(set(categories or ()) - set(available))
    if unknown:
        raise BadInputError(f"no production model for {', '.join(unknown)}; these have one: {', '.join(available)}")
    service_features: dict[str, list[str]] = {}
    models = []
    for category in sorted(set(categories or available)):
        model = registry.load(category)
        service = model.card.feature_service
        if service not in service_features:
            service_features[service] = resolve_plan(store, service).outputs
        model.check_features(service_features[service], service)
        models.append(
            ScoringModel(
                category,
                model.card.version,
                model.booster.save_raw("ubj"),
                model.card.layout,
                model.card.positive_weight,
                service,
                model.card.run_id,
                model.profile,
            )
        )
    return models
