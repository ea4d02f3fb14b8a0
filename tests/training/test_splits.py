"""Time splits: later splits are later in time and no label window of an earlier split reaches into them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from training.splits import split_cutoffs

MONTHLY = [date(2024, m, 1) for m in range(1, 13)]


def test_monthly_cutoffs_split_in_time_order_without_label_overlap() -> None:
    split = split_cutoffs(MONTHLY, 30, validation=2, test=1)
    assert split.test == (date(2024, 12, 1),)
    assert split.validation == (date(2024, 10, 1), date(2024, 11, 1))
    assert max(split.train) < min(split.validation) and max(split.validation) < min(split.test)
    for earlier, later in ((split.train, split.validation), (split.validation, split.test)):
        assert all(c + timedelta(days=30) <= min(later) for c in earlier)
    # Feb 1 + 30 days runs past Mar 1, but no split starts on Mar 1: only the cutoffs whose window would
    # reach the next split are dropped.
    assert split.dropped == ()
    assert set(split.train) | set(split.validation) | set(split.test) == set(MONTHLY)


def test_cutoffs_whose_label_window_reaches_the_next_split_are_dropped() -> None:
    weekly = [date(2024, 1, 1) + timedelta(weeks=k) for k in range(20)]
    split = split_cutoffs(weekly, 30, validation=1, test=1)
    assert split.test == (weekly[-1],)
    assert split.validation == (weekly[-6],)  # the latest cutoff whose 30 days end by the test cutoff
    assert split.train == tuple(weekly[:10])  # week 9 + 30 days is before week 14; week 10 + 30 days is not
    assert split.dropped == tuple(weekly[10:14] + weekly[15:19])
    assert all(c + timedelta(days=30) <= split.validation[0] for c in split.train)
    assert split.of(weekly[-1]) == "test" and split.of(weekly[-2]) is None and split.of(weekly[0]) == "train"


@pytest.mark.parametrize("cutoffs", [MONTHLY[:2], [date(2024, 1, 1) + timedelta(days=d) for d in range(40)]])
def test_too_few_cutoffs_for_three_splits_are_refused(cutoffs: list[date]) -> None:
    with pytest.raises(ValueError, match="longer period"):
        split_cutoffs(cutoffs, 30)
