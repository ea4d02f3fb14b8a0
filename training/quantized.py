"""Training matrices binned by XGBoost into pages on the worker's local disk, fed block by block.

XGBoost's in-memory ``QuantileDMatrix`` is compact only when no value is missing: with missing values it stores a
4-byte bin id per present value plus a column index, about 14 bytes per present value, 3.1x the float32 matrix on
the default workspace's training set (docs/BENCHMARKS.md). Its external-memory twin (``ExtMemQuantileDMatrix``)
gives the same bins and the same models but keeps the pages in files it maps, so a trainer's own memory stays at
a few blocks and the pages live in the page cache, which the kernel can drop and read back under pressure
instead of a worker being killed.

The pages go to a directory of the node's temporary directory per trainer (:func:`page_directory`); it is removed
when the trainer is done, and a trainer sweeps the directories of processes that died before they could.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psutil
import xgboost as xgb

BLOCK_BYTES = 64 * 2**20  # of float32 matrix per block fed to XGBoost
PREFIX = "propensity-pages-"


class _Blocks(xgb.DataIter):
    """Float32 matrix blocks for XGBoost, from a function that starts a new pass over them."""

    def __init__(self, blocks: Callable[[], Iterator[np.ndarray]], feature_types: list[str], cache_prefix: str):
        self._blocks = blocks
        self._feature_types = feature_types
        self._iterator: Iterator[np.ndarray] | None = None
        super().__init__(cache_prefix=cache_prefix, release_data=True)

    def reset(self) -> None:
        self._iterator = None

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._iterator is None:
            self._iterator = self._blocks()
        block = next(self._iterator, None)
        if block is None:
            return False
        input_data(data=block, feature_types=self._feature_types)
        return True


def quantized(
    blocks: Callable[[], Iterator[np.ndarray]],
    options: dict[str, object],
    pages: Path,
    *,
    ref: xgb.DMatrix | None = None,
) -> xgb.DMatrix:
    """The matrix of ``blocks`` (a fresh pass per call) binned with ``options``
    (:func:`training.fitting.quantile_options`; on ``ref``'s bins when given), its pages in files named
    ``pages``-*."""
    options = dict(options)
    feature_types = options.pop("feature_types")
    return xgb.ExtMemQuantileDMatrix(_Blocks(blocks, feature_types, str(pages)), ref=ref, **options)


def row_blocks(matrix: np.ndarray) -> Callable[[], Iterator[np.ndarray]]:
    """Passes over ``matrix`` in row blocks of about :data:`BLOCK_BYTES`."""
    rows = max(1, BLOCK_BYTES // max(1, matrix.shape[1] * matrix.itemsize))
    return lambda: (matrix[start : start + rows] for start in range(0, len(matrix), rows))


def page_directory() -> Path:
    """A new directory for this process's pages in the node's temporary directory, after removing those of
    processes that no longer run."""
    root = Path(tempfile.gettempdir())
    for stale in root.glob(f"{PREFIX}*"):
        pid = stale.name.removeprefix(PREFIX).split("-")[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=root))
