"""Feast objects generated from the feature catalog: the customer entity, one FileSource and FeatureView per
catalog view, and the feature services. ``feature_repo/features.py`` declares them for ``feast apply``."""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Array, Float32, Int32, PrimitiveFeastType, String

from propensity.config import Workspace
from propensity.features.catalog import ONLINE_PROFILE_VIEWS, OWNER, DType, View, view_by_name
from propensity.features.pipeline import view_dir, workspace_catalog

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


class Definitions:
    """The Feast objects of one workspace's feature catalog."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.catalog = workspace_catalog(ws)

    @classmethod
    def for_workspace(cls) -> Definitions:
        """Definitions for the workspace named by ``$PROPENSITY_WORKDIR`` (what Feast's CLI runs with)."""
        return cls(Workspace.resolve())

    def source(self, view: View) -> FileSource:
        """The Parquet dataset of ``view`` in the offline store."""
        return FileSource(
            name=f"{view.name}_source",
            path=str(view_dir(self.ws, view.name)),
            file_format=ParquetFormat(),
            timestamp_field="event_timestamp",
            created_timestamp_column="created_at",
            description=f"Offline snapshots of {view.name}, written by `propensity features build`.",
            owner=OWNER,
        )

    def view(self, name: str) -> FeatureView:
        """The Feast feature view ``name`` with every feature of the catalog view as a typed, described field."""
        view = view_by_name(self.catalog, name)
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

    def training_service(self, views: list[FeatureView]) -> FeatureService:
        """``propensity_v1``: every training feature (all views)."""
        return FeatureService(
            name="propensity_v1",
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
