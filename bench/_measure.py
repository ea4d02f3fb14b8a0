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
from dataclasses import dataclass, field

import psutil

PAUSE_FACTOR = 9  # pause at least 9x as long as a sample took: the sampler uses at most a tenth of a core


@dataclass(frozen=True)
class Measurement:
    """Wall-clock seconds, peak memory (bytes of PSS, summed over the process tree) and the peak private memory
    (USS: pages no other process maps) of any one process of the tree, overall and per process title (a Ray
    worker's title names its task or actor method, e.g. ``ray::CategoryTrainer.train``)."""

    seconds: float
    peak_memory: int
    peak_process_private: int = 0
    peak_private_by_title: dict[str, int] = field(default_factory=dict)  # process title (Ray's shows the task)


def measure(work: Callable[[], object], interval: float = 0.05) -> Measurement:
    """Run ``work`` while sampling the memory of this process and its children (every ``interval`` seconds, or
    less often when a sample is slow)."""
    me = psutil.Process()
    peak = peak_private = 0
    by_title: dict[str, int] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_private
        while not done.is_set():
            started = time.perf_counter()
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a child may exit between listing and reading
                    memory = proc.memory_full_info()
                    total += memory.pss
                    peak_private = max(peak_private, memory.uss)
                    title = (proc.cmdline() or [proc.name()])[0][:60]
                    by_title[title] = max(by_title.get(title, 0), memory.uss)
            peak = max(peak, total)
            # reading PSS walks every page table: of a process tree holding many GiB that costs tens of ms, so
            # the pause grows with it and the sampler keeps to about a tenth of a core
            done.wait(max(interval, PAUSE_FACTOR * (time.perf_counter() - started)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        work()
    finally:
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
    return Measurement(elapsed, peak, peak_private, by_title)


def median_of(runs: list[Measurement]) -> Measurement:
    """The median time and median peak memory of repeated runs."""
    return Measurement(statistics.median(r.seconds for r in runs), int(statistics.median(r.peak_memory for r in runs)))
