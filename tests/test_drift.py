"""PSI drift profiles: bins, the PSI formula, stability under batching, persistence and the row sample."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from propensity.drift import SHARE_FLOOR, DriftProfile, RowSample


def test_a_sample_against_its_own_profile_has_no_drift() -> None:
    rng = np.random.default_rng(0)
    matrix = np.column_stack([rng.normal(size=1000), rng.integers(0, 3, 1000), np.full(1000, np.nan)])
    profile = DriftProfile.of(matrix, ["x", "code", "empty"])
    assert profile.psi(profile.count(matrix)) == {"x": 0.0, "code": 0.0, "empty": 0.0}


def test_psi_follows_the_formula_on_a_discrete_column() -> None:
    # reference: half 0, half 1 -> one bin per value; now 90% 0 and 10% 1
    profile = DriftProfile.of(np.array([[0.0]] * 50 + [[1.0]] * 50), ["flag"])
    np.testing.assert_array_equal(profile.edges[0], [0.0, 1.0])
    now = np.array([[0.0]] * 90 + [[1.0]] * 10)
    expected = (0.9 - 0.5) * math.log(0.9 / 0.5) + (0.1 - 0.5) * math.log(0.1 / 0.5)
    assert profile.psi(profile.count(now))["flag"] == pytest.approx(expected)


def test_values_turning_missing_or_out_of_range_count_as_drift() -> None:
    reference = np.arange(100, dtype=float).reshape(-1, 1)
    profile = DriftProfile.of(reference, ["x"])
    missing = np.vstack([reference[:50], np.full((50, 1), np.nan)])
    above = reference + 1000  # every value past the last cut point
    # half the rows move into the missing bin, which had no reference rows (floored share)
    moved = profile.psi(profile.count(missing))["x"]
    assert moved > 0.25
    half = 0.5 - SHARE_FLOOR
    assert moved > half * math.log(0.5 / SHARE_FLOOR)
    assert profile.psi(profile.count(above))["x"] > 1
    assert profile.psi(profile.count(reference[::-1]))["x"] == 0.0  # order does not matter


def test_psi_grows_with_the_shift_of_a_distribution() -> None:
    rng = np.random.default_rng(1)
    profile = DriftProfile.of(rng.normal(size=(20_000, 1)), ["x"])
    psi = [profile.psi(profile.count(rng.normal(shift, size=(20_000, 1))))["x"] for shift in (0.0, 0.2, 1.0)]
    assert psi[0] < 0.01 < psi[1] < 0.1 < 0.25 < psi[2]
    assert psi == sorted(psi)


def test_counts_of_batches_add_up_to_the_counts_of_the_whole() -> None:
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(500, 4))
    profile = DriftProfile.of(matrix, list("abcd"))
    later = rng.normal(0.3, size=(300, 4))
    whole = profile.count(later)
    parts = [profile.count(later[i : i + 70]) for i in range(0, 300, 70)]
    summed = [sum(p[j] for p in parts) for j in range(4)]
    for got, want in zip(summed, whole, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_profile_round_trips_through_parquet(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    profile = DriftProfile.of(np.column_stack([rng.random(100), np.full(100, np.nan)]), ["x", "y"])
    profile.write(tmp_path / "p.parquet")
    loaded = DriftProfile.read(tmp_path / "p.parquet")
    assert loaded.columns == ("x", "y")
    later = rng.random((50, 2))
    assert loaded.psi(loaded.count(later)) == profile.psi(profile.count(later))


def test_a_matrix_and_names_of_different_widths_are_refused() -> None:
    with pytest.raises(ValueError, match="3 columns cannot have 2 column names"):
        DriftProfile.of(np.zeros((4, 3)), ["a", "b"])


def test_the_row_sample_is_bounded_uniform_and_independent_of_batching() -> None:
    rows = np.arange(10_000, dtype=float).reshape(-1, 1)
    whole, batched = RowSample(1000, seed=5), RowSample(1000, seed=5)
    whole.add(rows)
    for start in range(0, 10_000, 777):
        batched.add(rows[start : start + 777])
    np.testing.assert_array_equal(whole.matrix, batched.matrix)
    taken = whole.matrix[:, 0]
    assert len(taken) == 1000 and len(np.unique(taken)) == 1000
    assert np.all(np.diff(taken) > 0)  # kept in arrival order
    assert 4000 < taken.mean() < 6000  # drawn from the whole range, not the first rows
    small = RowSample(1000)
    small.add(rows[:10])
    np.testing.assert_array_equal(small.matrix, rows[:10])
    with pytest.raises(ValueError, match="no rows"):
        _ = RowSample(5).matrix
