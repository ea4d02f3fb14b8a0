"""Measuring a run: wall time and the peak resident memory of a process and all its children."""

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
    """Wall-clock seconds and peak resident memory (bytes, summed over the process tree)."""

    seconds: float
    peak_rss: int


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
                    total += proc.memory_info().rss
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
    return Measurement(statistics.median(r.seconds for r in runs), int(statistics.median(r.peak_rss for r in runs)))
