"""Assertions shared by several test modules: training sets equal row for row, trained models good and
reproducible."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from propensity.config import Workspace
from training.labels import LABEL_PREFIX
from training.registry import ModelRegistry


def assert_same_rows(expected: pa.Table, got: pa.Table) -> None:
    """Same schema (names, order, types) and the same multiset of rows."""
    assert got.schema.equals(expected.schema), f"{got.schema}\n!=\n{expected.schema}"
    order = [("row_id", "ascending")]  # duplicated entity rows are whole duplicates, so their order is moot
    left, right = expected.to_pandas().sort_values("row_id", kind="stable"), got.sort_by(order).to_pandas()
    pd.testing.assert_frame_equal(
        right.reset_index(drop=True).map(_comparable), left.reset_index(drop=True).map(_comparable)
    )


def _comparable(value):
    return tuple(value.tolist()) if hasattr(value, "tolist") and not isinstance(value, float) else value


def assert_good_and_reproducible(ws: Workspace, category: str) -> None:
    """The category's latest model is in production with a test AUC above 0.7, and the workers' test shards were
    put back together row for row: it scores the test cutoff's rows of the written training set to that AUC."""
    registry = ModelRegistry(ws.models_dir)
    model = registry.load(category)
    assert registry.stage(category, model.card.version) == "production"
    assert model.card.metrics["roc_auc"] > 0.7
    table = pq.read_table(ws.training_sets_dir / "propensity_v1")
    test_cutoff = datetime.fromisoformat(model.card.split["test"][0]).replace(tzinfo=UTC)
    rows = table.filter(pc.equal(table.column("event_timestamp"), test_cutoff))
    scores = model.predict_proba(model.card.layout.matrix(rows))
    labels = rows.column(LABEL_PREFIX + category).to_numpy()
    assert roc_auc_score(labels, scores) == pytest.approx(model.card.metrics["roc_auc"], abs=1e-9)
    assert model.card.metrics["positives"] == labels.sum()
