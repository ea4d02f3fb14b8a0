"""Reading the offline store back, and Feast's own workflow, in tests."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from propensity.config import Workspace
from propensity.datagen.raw_views import connect_raw, data_range
from propensity.features.feast_cli import run_feast
from propensity.features.offline_store import OfflineStore


def read_view(ws: Workspace, view: str) -> pd.DataFrame:
    """Every row of a view's offline dataset."""
    files = sorted(OfflineStore(ws).view_dir(view).rglob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()


def latest_offline(ws: Workspace, view: str) -> pd.DataFrame:
    """Each customer's latest offline row of ``view``, indexed by customer."""
    rows = read_view(ws, view).sort_values(["customer_id", "event_timestamp"])
    return rows.groupby("customer_id").tail(1).set_index("customer_id")


def feast_materialize_in_two_steps(ws: Workspace) -> None:
    """Feast's own workflow on the registered workspace ``ws``: `feast materialize` of every online view up to the
    middle of the data, then `feast materialize-incremental` to past its end (scores included); both succeed."""
    first, last = data_range(connect_raw(ws))
    middle = first + (last - first) / 2
    for args in (
        ["materialize", "2000-01-01T00:00:00", f"{middle}T00:00:00"],
        ["materialize-incremental", f"{last + timedelta(days=2)}T00:00:00"],
    ):
        result = run_feast(ws, args, capture=True)
        assert result.returncode == 0, f"feast {args[0]} failed:\n{result.stderr[-3000:]}"
