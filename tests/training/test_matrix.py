"""Feature matrices: scalars as float32, arrays expanded to columns, strings as categorical codes, nulls as NaN."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from training.matrix import Fingerprint, MatrixLayout


def _table() -> pa.Table:
    return pa.table({
        "orders": pa.array([1, None, 3], pa.int32()),
        "spend": pa.array([1.5, 2.5, None], pa.float64()),
        "embedding": pa.array([[0.1, 0.2], None, [0.5, 0.6]], pa.list_(pa.float32())),
        "region": pa.array(["north", "south", None]),
    })  # fmt: skip


def test_layout_expands_arrays_and_encodes_strings() -> None:
    layout = MatrixLayout.of(_table(), ["orders", "spend", "embedding", "region"])
    assert layout.columns == ["orders", "spend", "embedding_0", "embedding_1", "region"]
    assert layout.feature_types == ["q", "q", "q", "q", "c"]
    assert layout.vocabularies == ((), (), (), ("north", "south"))
    expected = np.array(
        [[1, 1.5, 0.1, 0.2, 0], [np.nan, 2.5, np.nan, np.nan, 1], [3, np.nan, 0.5, 0.6, np.nan]], dtype=np.float32
    )
    np.testing.assert_array_equal(layout.matrix(_table()), expected)


def test_values_outside_the_training_vocabulary_are_missing() -> None:
    layout = MatrixLayout.of(_table(), ["region"])
    later = pa.table({"region": ["west", "south"]})
    np.testing.assert_array_equal(layout.matrix(later), np.array([[np.nan], [1]], dtype=np.float32))


@pytest.mark.parametrize(
    ("values", "message"),
    [([[1.0], [1.0, 2.0]], "different lengths"), ([None, None], "no values")],
)
def test_array_features_of_unknown_or_ragged_width_are_refused(values: list, message: str) -> None:
    table = pa.table({"embedding": pa.array(values, pa.list_(pa.float32()))})
    with pytest.raises(ValueError, match=message):
        MatrixLayout.of(table, ["embedding"])


def test_rows_whose_array_width_differs_from_the_layout_are_refused() -> None:
    layout = MatrixLayout.of(_table(), ["embedding"])
    with pytest.raises(ValueError, match="length is not 2"):
        layout.matrix(pa.table({"embedding": pa.array([[1.0, 2.0, 3.0]], pa.list_(pa.float32()))}))


def test_a_categorys_fingerprint_ignores_batching_and_the_other_categories() -> None:
    matrix = np.arange(18, dtype=np.float32).reshape(6, 3)
    a, b = np.array([1, 0, 1, 0, 0, 1]), np.array([0, 1, 0, 0, 1, 0])

    def digests(labels: dict[str, np.ndarray], batches: list[slice], matrix: np.ndarray = matrix) -> dict[str, str]:
        fingerprint = Fingerprint(("train",), list(labels))
        for rows in batches:
            fingerprint.update("train", matrix[rows], {c: y[rows] for c, y in labels.items()})
        return fingerprint.hexdigests()

    whole = digests({"label_a": a, "label_b": b}, [slice(0, 6)])
    assert digests({"label_a": a, "label_b": b}, [slice(0, 2), slice(2, 6)]) == whole
    assert digests({"label_a": a}, [slice(0, 6)]) == {"label_a": whole["label_a"]}
    assert whole["label_a"] != whole["label_b"]
    assert digests({"label_a": 1 - a}, [slice(0, 6)])["label_a"] != whole["label_a"]
    assert digests({"label_a": a}, [slice(0, 6)], matrix + 1)["label_a"] != whole["label_a"]
