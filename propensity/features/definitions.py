"""Feast objects generated from the feature catalog: the customer entity, one FileSource and FeatureView per
catalog view, the feature services, and the ``customer_propensity`` view of the models' scores.
``feature_repo/features.py`` declares them for ``feast apply``."""

from __future__ import annotations

import os
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Array, Float32, Int32, PrimitiveFeastType, String

from propensity.config import Workspace
from propensity.features.catalog import (
    FEATURE_SERVICE,
    ONLINE_PROFILE_VIEWS,
    OWNER,
    DType,
    View,
    workspace_catalog,
)
from propensity.features.offline_store import OfflineStore
from propensity.features.schemas import SCORES_VIEW, scored_categories

FEAST_TYPES: dict[DType, PrimitiveFeastType | Array] = {
    "int32": Int32,
    "float32": Float32,
    "string": String,
    "float32_array": Array(Float32),
}

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.INT64,
    description="A customer of the retailer, keyed by customer_id from the raw customers table.",
    tags={"owner": OWNER},
)


SCORES_PUSH_SOURCE = "customer_propensity_push"
SCORES_TTL = timedelta(days=30)


class Definitions:
    """The Feast objects of one workspace's feature catalog."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.offline = OfflineStore(ws)
        self.catalog = workspace_catalog(ws)

    @property
    def s3_endpoint(self) -> str | None:
        """The S3-compatible endpoint Feast's Dask offline store must use (``$AWS_ENDPOINT_URL``; none: AWS)."""
        return os.environ.get("AWS_ENDPOINT_URL") if self.ws.offline_uri else None

    @classmethod
    def for_workspace(cls) -> Definitions:
        """Definitions for the workspace named by ``$PROPENSITY_WORKDIR`` (what Feast's CLI runs with)."""
        return cls(Workspace.resolve())

    def source(self, view: View) -> FileSource:
        """The Parquet dataset of ``view`` in the offline store."""
        return FileSource(
            name=f"{view.name}_source",
            path=self.offline.view_location(view.name),
            s3_endpoint_override=self.s3_endpoint,
            file_format=ParquetFormat(),
            timestamp_field="event_timestamp",
            created_timestamp_column="created_at",
            description=f"Offline snapshots of {view.name}, written by `propensity features build`.",
            owner=OWNER,
        )

    def view(self, view: View) -> FeatureView:
        """The Feast feature view of catalog view ``view``, every feature a typed, described field."""
        return FeatureView(
            name=view.name,
            entities=[customer],
            ttl=timedelta(days=view.ttl_days),
            schema=[
                Field(
                    name=f.name,
                    dtype=FEAST_TYPES[f.dtype],
                    description=f.description,
                    tags={
                        k: str(v)
                        for k, v in (
                            ("family", f.family),
                            ("unit", f.unit),
                            ("category", f.category),
                            ("window_days", f.window),
                        )
                        if v is not None
                    },
                )
                for f in view.features
            ],
            source=self.source(view),
            online=view.online,
            description=view.description,
            tags={"family": view.family, "owner": OWNER},
            owner=OWNER,
        )

    def views(self) -> dict[str, FeatureView]:
        """Every catalog view as a Feast feature view, by name, in catalog order."""
        return {view.name: self.view(view) for view in self.catalog}

    def training_service(self, views: list[FeatureView]) -> FeatureService:
        """``FEATURE_SERVICE``: every training feature (all views)."""
        return FeatureService(
            name=FEATURE_SERVICE,
            features=views,
            description="Every customer feature, for training and batch scoring of the propensity models.",
            tags={"owner": OWNER},
            owner=OWNER,
        )

    def online_service(self, views: list[FeatureView]) -> FeatureService:
        """``online_profile``: the small set of views served online."""
        return FeatureService(
            name="online_profile",
            features=[v for v in views if v.name in ONLINE_PROFILE_VIEWS],
            description="A compact customer profile served online: profile, RFM and engagement.",
            tags={"owner": OWNER},
            owner=OWNER,
        )

    def scores_view(self) -> FeatureView:
        """``customer_propensity``: each category's production-model score (named after the category), the model
        versions and the scoring run, per customer and scoring date; Parquet offline, pushed online."""
        scores = [
            Field(
                name=category,
                dtype=Float32,
                description=f"Probability that the customer buys in {category} within the label horizon, from the "
                "category's production model (null: no production model).",
                tags={"family": "propensity", "category": category},
            )
            for category in scored_categories(self.catalog)
        ]
        batch = FileSource(
            name=f"{SCORES_VIEW}_source",
            path=self.offline.view_location(SCORES_VIEW),
            s3_endpoint_override=self.s3_endpoint,
            file_format=ParquetFormat(),
            timestamp_field="event_timestamp",
            created_timestamp_column="created_at",
            description="One directory of scores per scoring date, written by `propensity score`.",
            owner=OWNER,
        )
        return FeatureView(
            name=SCORES_VIEW,
            entities=[customer],
            ttl=SCORES_TTL,
            schema=[
                *scores,
                Field(name="model_versions", dtype=String, description="JSON: category -> model version scored."),
                Field(name="scoring_run", dtype=String, description="The `propensity score` run that wrote the row."),
            ],
            source=PushSource(name=SCORES_PUSH_SOURCE, batch_source=batch),
            online=True,
            description="Propensity scores of every eligible customer, one row per scoring date.",
            tags={"family": "propensity", "owner": OWNER},
            owner=OWNER,
        )
