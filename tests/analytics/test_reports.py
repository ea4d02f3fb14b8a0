"""Each canned report on known data, against answers computed here from the values written."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from propensity.analytics import reports
from propensity.analytics.views import QueryError, WorkspaceViews
from propensity.drift import SHARE_FLOOR
from tests.support.known import BASE_BLOCKS, MUG_BUYERS, SCORED_AT, SNAPSHOTS, KnownWorkspace


def _rows(relation) -> list[dict]:
    return relation.to_arrow_table().to_pylist()


def test_lift_ranks_the_scored_customers_against_what_they_bought_in_the_window(known: KnownWorkspace) -> None:
    rows = _rows(reports.lift(WorkspaceViews(known.ws)))
    buyers = {"mugs": MUG_BUYERS, "posters": {3}}  # customer 3's poster is on the window's last day
    for category, scores in known.scores.items():
        ranked = sorted(scores, key=lambda c: (-scores[c], c))
        deciles = [ranked[i * 4 : (i + 1) * 4] for i in range(10)]
        rate = len(buyers[category]) / len(ranked)
        got = [r for r in rows if r["category"] == category]
        assert [r["decile"] for r in got] == list(range(1, 11))
        for row, members in zip(got, deciles, strict=True):
            bought = len(buyers[category] & set(members))
            assert row["scored_at"] == SCORED_AT
            assert (row["customers"], row["buyers"]) == (4, bought)
            assert row["precision"] == pytest.approx(bought / 4)
            assert row["lift"] == pytest.approx(bought / 4 / rate)
            assert row["max_score"] == pytest.approx(max(scores[c] for c in members))


def test_lift_needs_the_whole_window_in_the_data(known: KnownWorkspace) -> None:
    views = WorkspaceViews(known.ws)
    # 2025-06-01 + 60 days is after the last event (2025-07-15)
    with pytest.raises(QueryError, match="the outcomes of 2025-06-01 are not known yet"):
        reports.lift(views, scored_at=SCORED_AT, horizon_days=60)
    with pytest.raises(QueryError, match=r"no scoring date has its outcomes yet.*at most 2025-05-17"):
        reports.lift(views, horizon_days=60)
    with pytest.raises(QueryError, match="no scores were published for 2025-05-01"):
        reports.lift(views, scored_at=date(2025, 5, 1))


def test_coverage_gives_each_features_null_rate_at_the_snapshot(known: KnownWorkspace) -> None:
    views = WorkspaceViews(known.ws)
    for day, table in known.snapshots.items():
        rows = _rows(reports.coverage(views, snapshot=day, view="toy"))
        expected = {name: table.column(name).null_count / table.num_rows
                    for name in table.column_names if name not in ("customer_id", "event_timestamp")}  # fmt: skip
        assert {r["feature"]: r["null_rate"] for r in rows} == pytest.approx(expected)
    summary = {r["view"]: r for r in _rows(reports.coverage(views))}
    latest = known.snapshots[SNAPSHOTS[-1]]
    assert summary["toy"]["snapshot"] == SNAPSHOTS[-1]
    assert summary["toy"]["features"] == latest.num_columns - 2
    assert summary["toy"]["all_null_features"] == 1  # `emptied`
    assert summary["toy"]["most_null_feature"] == "emptied"


def _psi(actual: list[float], expected: list[float]) -> float:
    a = np.maximum(actual, SHARE_FLOOR)
    e = np.maximum(expected, SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def test_drift_compares_the_two_snapshots_per_feature(known: KnownWorkspace) -> None:
    rows = {r["feature"]: r for r in _rows(reports.drift(WorkspaceViews(known.ws)))}
    assert "label" not in rows  # strings are not compared
    assert {r["base"] for r in rows.values()} == {SNAPSHOTS[0]}
    assert rows["stable"]["psi"] == pytest.approx(0.0, abs=1e-12)  # the same values, in another order
    # bins (-inf, 0], (0, 1], (1, 2], (2, 3], (3, inf), missing; the current `shifted` is 10 everywhere
    base = [blocks / 100 for blocks in BASE_BLOCKS] + [0.0, 0.0]
    assert rows["shifted"]["psi"] == pytest.approx(_psi([0, 0, 0, 0, 1.0, 0], base))
    assert rows["emptied"]["psi"] == pytest.approx(_psi([0, 0, 0, 0, 0, 1.0], base))
    assert rows["half_null"]["psi"] == pytest.approx(0.0, abs=1e-12)  # unchanged, nulls included
    assert list(rows) == sorted(rows, key=lambda f: -rows[f]["psi"])


def test_drift_names_a_missing_snapshot(known: KnownWorkspace) -> None:
    with pytest.raises(QueryError, match="no snapshot on 2025-01-06"):
        reports.drift(WorkspaceViews(known.ws), base=date(2025, 1, 6), view="toy")
    with pytest.raises(QueryError, match="no feature view 'nope'"):
        reports.drift(WorkspaceViews(known.ws), view="nope")


def test_scores_describe_each_categorys_distribution(known: KnownWorkspace) -> None:
    rows = {r["category"]: r for r in _rows(reports.scores(WorkspaceViews(known.ws)))}
    assert set(rows) == set(known.scores)
    for category, scores in known.scores.items():
        values = np.array(list(scores.values()), dtype=np.float32).astype(np.float64)
        row = rows[category]
        assert row["customers"] == len(values)
        assert row["mean"] == pytest.approx(values.mean())
        for name, q in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            assert row[name] == pytest.approx(np.quantile(values, q))
        assert row["max"] == pytest.approx(values.max())
        assert row["share_above_half"] == pytest.approx(float(np.mean(values >= 0.5)))
