"""The Arrow schema of every offline dataset, from the feature catalog: the customer key, the event timestamp, the
view's features in catalog order and the created timestamp, as feature builds write them; the scores view has one
score per category, then the model versions and the scoring run, as `propensity score` writes them."""

from __future__ import annotations

import pyarrow as pa

from propensity.datagen.schema import TIMESTAMP
from propensity.features.catalog import DType, View

SCORES_VIEW = "customer_propensity"
SCORE_RUN_COLUMNS = ("model_versions", "scoring_run")  # the scores view's columns that are not scores

ARROW_TYPES: dict[DType, pa.DataType] = {
    "int32": pa.int32(),
    "float32": pa.float32(),
    "string": pa.string(),
    "float32_array": pa.list_(pa.float32()),
}
_KEY_AND_TIME = (("customer_id", pa.int64()), ("event_timestamp", TIMESTAMP))
_CREATED = ("created_at", TIMESTAMP)


def scored_categories(views: tuple[View, ...]) -> list[str]:
    """The categories of the catalog, sorted: one score column each in the scores view."""
    return sorted({f.category for view in views for f in view.features if f.category})


def view_schema(view: View) -> pa.Schema:
    """The columns of ``view``'s offline files."""
    return pa.schema([*_KEY_AND_TIME, *((f.name, ARROW_TYPES[f.dtype]) for f in view.features), _CREATED])


def scores_schema(views: tuple[View, ...]) -> pa.Schema:
    """The columns of the scores view's offline files."""
    scores = [(category, pa.float32()) for category in scored_categories(views)]
    return pa.schema([*_KEY_AND_TIME, _CREATED, *scores, *((name, pa.string()) for name in SCORE_RUN_COLUMNS)])


def dataset_schemas(views: tuple[View, ...]) -> dict[str, pa.Schema]:
    """Every offline dataset's schema by view name: the catalog's views and the scores view."""
    return {**{view.name: view_schema(view) for view in views}, SCORES_VIEW: scores_schema(views)}
