"""Measuring a run: wall time and the peak memory of a process and all its children.

Memory is the proportional set size (PSS) summed over the process tree: each page counts once, split among the
processes that map it. Summing resident sizes instead would count a shared page once per process mapping it,
and Ray's object store is shared memory mapped by the store and by every worker that reads or writes a block.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Measurement:
    """Wall-clock seconds and peak memory (bytes of PSS, summed over the process tree)."""

    seconds: float
    peak_memory: int


def measure(work: Callable[[], object], interval: float = 0.05) -> Measurement:
    """Run ``work`` while sampling the memory of this process and its children."""
    me = psutil.Process()
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a child may exit between listing and reading
                    total += proc.memory_full_info().pss
            peak = max(peak, total)
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        work()
    finally:
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
    return Measurement(elapsed, peak)


def median_of(runs: list[Measurement]) -> Measurement:
    """The median time and median peak memory of repeated runs."""
    return Measurement(statistics.median(r.seconds for r in runs), int(statistics.median(r.peak_memory for r in runs)))
