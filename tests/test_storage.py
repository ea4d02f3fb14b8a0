"""Atomic writes: a file appears whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from propensity.storage import atomic_file


def test_a_file_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.csv"
    with atomic_file(target) as sink:
        sink.write(b"a,b\n")
        assert not target.exists()  # still aside
    assert target.read_bytes() == b"a,b\n"
    assert list(target.parent.iterdir()) == [target]


def test_a_failed_write_leaves_the_old_file_and_no_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "result.csv"
    target.write_bytes(b"old\n")
    with pytest.raises(RuntimeError), atomic_file(target) as sink:
        sink.write(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old\n"
    assert list(tmp_path.iterdir()) == [target]
