"""Labels equal a pandas reading of the raw tables; cutoffs follow the cadence and never outrun the data."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from propensity.config import Workspace
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic
from training.labels import LabelConfig, build_labels, cutoff_dates


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.resolve(tmp_path_factory.mktemp("labels"))
    generate_synthetic(SyntheticConfig(customers=500, end=date(2024, 12, 31), seed=4), ws.raw_dir, workers=1)
    return ws


def test_monthly_cutoffs_start_after_the_history_and_keep_the_window_inside_the_data() -> None:
    config = LabelConfig(min_history_days=90, horizon_days=30)
    # History until 2024-04-09 (90 days after 2024-01-10); label windows must end by 2024-10-01.
    assert cutoff_dates(config, date(2024, 1, 10), date(2024, 10, 1)) == [
        date(2024, 5, 1), date(2024, 6, 1), date(2024, 7, 1), date(2024, 8, 1), date(2024, 9, 1),
    ]  # fmt: skip
    # A window ending exactly on the end of the data still fits; one day more does not.
    assert cutoff_dates(config, date(2024, 1, 10), date(2024, 9, 30))[-1] == date(2024, 8, 1)


def test_weekly_and_daily_cadences() -> None:
    weekly = cutoff_dates(LabelConfig(cadence="weekly", min_history_days=0, horizon_days=7),
                          date(2024, 1, 3), date(2024, 2, 1))  # fmt: skip
    assert weekly and all(d.weekday() == 0 for d in weekly)
    assert [b - a for a, b in itertools.pairwise(weekly)] == [timedelta(days=7)] * (len(weekly) - 1)
    assert weekly[0] >= date(2024, 1, 3) and weekly[-1] + timedelta(days=7) <= date(2024, 2, 1)
    every10 = cutoff_dates(LabelConfig(cadence="10d", min_history_days=5, horizon_days=3, last=date(2024, 2, 1)),
                           date(2024, 1, 1), date(2024, 12, 1))  # fmt: skip
    assert every10[0] == date(2024, 1, 11) and every10[-1] <= date(2024, 2, 1)
    assert all((d - date(2024, 1, 1)).days % 10 == 0 for d in every10)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"cadence": "fortnightly"}, "use `monthly`, `weekly`"),
        ({"horizon_days": 0}, "greater than or equal to 1"),
        ({"first": date(2024, 5, 1), "last": date(2024, 4, 1)}, "is after last"),
    ],
)
def test_bad_config(settings: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LabelConfig(**settings)


def test_labels_equal_a_pandas_reading_of_the_raw_tables(ws: Workspace) -> None:
    config = LabelConfig(horizon_days=21, eligibility_days=60)
    report = build_labels(ws, config)
    got = pq.read_table(report.path / "labels.parquet").to_pandas()
    orders = pq.read_table(ws.raw_dir / "orders").to_pandas()
    sessions = pq.read_table(ws.raw_dir / "sessions").to_pandas()
    lines = pq.read_table(ws.raw_dir / "order_lines").to_pandas()
    categories = sorted(pq.read_table(ws.raw_dir / "categories").column("category").to_pylist())
    assert [c for c in got.columns if c.startswith("label_")] == [f"label_{c}" for c in categories]
    assert len(report.cutoffs) >= 5
    for cutoff in report.cutoffs:
        at = pd.Timestamp(cutoff, tz="UTC")
        since = at - pd.Timedelta(days=60)
        active = set(orders.customer_id[(orders.ordered_at >= since) & (orders.ordered_at < at)]) | set(
            sessions.customer_id[(sessions.started_at >= since) & (sessions.started_at < at)]
        )
        rows = got[got.event_timestamp == at].set_index("customer_id")
        assert set(rows.index) == active
        window = lines[(lines.ordered_at >= at) & (lines.ordered_at < at + pd.Timedelta(days=21))]
        for category in categories:
            buyers = set(window.customer_id[window.category == category]) & active
            assert set(rows.index[rows[f"label_{category}"] == 1]) == buyers, (cutoff, category)
    assert sum(report.positives.values()) > 0
    definition = json.loads((report.path / "_labels.json").read_text())
    assert definition["horizon_days"] == 21 and definition["cutoffs"] == [str(c) for c in report.cutoffs]


def test_relabelling_replaces_the_table(ws: Workspace) -> None:
    build_labels(ws, LabelConfig(cadence="weekly"))
    report = build_labels(ws, LabelConfig(cadence="monthly"))
    got = pq.read_table(report.path).to_pandas()
    assert sorted(got.event_timestamp.dt.date.unique()) == report.cutoffs
    assert sorted(p.name for p in report.path.iterdir()) == ["_labels.json", "labels.parquet"]


def test_no_cutoff_fits(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="no cutoff fits the data"):
        build_labels(ws, LabelConfig(min_history_days=300, horizon_days=200))
