"""Reading the offline store back in tests."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from propensity.config import Workspace
from propensity.features.pipeline import view_dir


def read_view(ws: Workspace, view: str) -> pd.DataFrame:
    """Every row of a view's offline dataset."""
    files = sorted(view_dir(ws, view).rglob("*.parquet"))
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
