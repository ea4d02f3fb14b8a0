"""Feature matrices for XGBoost: training-set columns as one float32 matrix, array features expanded.

An array (embedding) feature ``f`` of length ``n`` becomes the columns ``f_0 .. f_<n-1>``; a string feature
becomes one categorical column holding the value's position in a vocabulary learnt from the training rows
(XGBoost's native categorical splits); nulls and values outside the vocabulary become NaN, which XGBoost
treats as missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from propensity.errors import BadInputError


@dataclass(frozen=True)
class MatrixLayout:
    """Which features make a model's matrix, in order: how wide each is (0: a scalar feature) and, for string
    features, their vocabulary (empty for the others)."""

    features: tuple[str, ...]
    widths: tuple[int, ...]
    vocabularies: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, table: pa.Table, features: list[str]) -> MatrixLayout:
        """The layout of ``features`` in ``table``: array widths and string vocabularies read from its values."""
        columns = [table.column(name) for name in features]
        return cls(
            tuple(features),
            tuple(_width(column, name) for column, name in zip(columns, features, strict=True)),
            tuple(_vocabulary(column) for column in columns),
        )

    def with_vocabularies(self, table: pa.Table) -> MatrixLayout:
        """This layout with the vocabularies of the string features in ``table`` learnt from its values instead."""
        vocabularies = (
            _vocabulary(table.column(name)) if name in table.column_names else vocabulary
            for name, vocabulary in zip(self.features, self.vocabularies, strict=True)
        )
        return replace(self, vocabularies=tuple(vocabularies))

    @property
    def feature_types(self) -> list[str]:
        """XGBoost's type of each column: ``c`` (categorical) for string features, else ``q``."""
        types: list[str] = []
        for width, vocabulary in zip(self.widths, self.vocabularies, strict=True):
            types += ["q"] * width if width else ["c" if vocabulary else "q"]
        return types

    @property
    def columns(self) -> list[str]:
        """The matrix's column names."""
        names: list[str] = []
        for name, width in zip(self.features, self.widths, strict=True):
            names += [f"{name}_{i}" for i in range(width)] if width else [name]
        return names

    def matrix(self, table: pa.Table) -> np.ndarray:
        """The layout's features of ``table`` as a C-ordered float32 matrix."""
        out = np.empty((table.num_rows, len(self.columns)), dtype=np.float32)
        at = 0
        for name, width, vocabulary in zip(self.features, self.widths, self.vocabularies, strict=True):
            column = table.column(name)
            if width:
                out[:, at : at + width] = _list_values(column, width, name)
            elif vocabulary:
                codes = pc.index_in(column, value_set=pa.array(vocabulary, column.type))
                out[:, at] = pc.cast(codes, pa.float32()).to_numpy(zero_copy_only=False)
            else:
                out[:, at] = pc.cast(column, pa.float32(), safe=False).to_numpy(zero_copy_only=False)
            at += width or 1
        return out


class Fingerprint:
    """A digest of each split's matrix and of each label column that does not depend on how their rows are
    batched: feed each split's rows in order, in as many batches as suits. A category's fingerprint covers the
    matrix and its own label column only, so it is the same whichever other categories trained alongside."""

    def __init__(self, splits: tuple[str, ...], label_columns: list[str]):
        parts = [(split, part) for split in splits for part in ("", *label_columns)]
        self._parts = {part: hashlib.blake2b(digest_size=16) for part in parts}

    def update(self, split: str, matrix: np.ndarray, labels: Mapping[str, np.ndarray]) -> None:
        """Add the next rows of ``split``: their matrix rows and label values."""
        self._parts[split, ""].update(np.ascontiguousarray(matrix, dtype=np.float32).tobytes())
        for column, values in labels.items():
            self._parts[split, column].update(np.asarray(values, dtype=np.float32).tobytes())

    def hexdigests(self) -> dict[str, str]:
        """Per label column, the fingerprint of the matrix and that column fed so far."""
        columns = dict.fromkeys(column for _, column in self._parts if column)
        digests = {}
        for label_column in columns:
            whole = hashlib.blake2b(digest_size=16)
            for (_, column), part in self._parts.items():
                if column in ("", label_column):
                    whole.update(part.digest())
            digests[label_column] = whole.hexdigest()
        return digests


def is_string(type_: pa.DataType) -> bool:
    """Whether a column of this type is a string feature (a categorical matrix column over its vocabulary)."""
    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def is_array(type_: pa.DataType) -> bool:
    """Whether a column of this type is an array feature (expanded to one matrix column per element)."""
    return pa.types.is_list(type_) or pa.types.is_large_list(type_) or pa.types.is_fixed_size_list(type_)


def _width(column: pa.ChunkedArray, name: str) -> int:
    if not is_array(column.type):
        return 0
    lengths = pc.list_value_length(column).drop_null()
    if len(lengths) == 0:
        raise BadInputError(f"cannot tell the length of the array feature {name!r}: it has no values")
    bounds = pc.min_max(lengths)
    if bounds["min"].as_py() != bounds["max"].as_py():
        raise BadInputError(f"the array feature {name!r} holds arrays of different lengths")
    return int(bounds["max"].as_py())


def _vocabulary(column: pa.ChunkedArray) -> tuple[str, ...]:
    if not is_string(column.type):
        return ()
    return tuple(sorted(v for v in pc.unique(column).to_pylist() if v is not None)) or ("",)


def _list_values(column: pa.ChunkedArray, width: int, name: str) -> np.ndarray:
    """A list column as a (rows, width) float32 matrix, NaN for null lists."""
    out = np.full((len(column), width), np.nan, dtype=np.float32)
    lists = column.combine_chunks()
    valid = pc.is_valid(lists).to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    if np.any(lengths[valid] != width):
        raise BadInputError(f"the array feature {name!r} has values whose length is not {width}")
    values = pc.cast(pc.list_flatten(lists), pa.float32()).to_numpy(zero_copy_only=False)
    out[valid] = values.reshape(-1, width)
    return out
