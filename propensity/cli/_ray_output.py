"""Ray's output and Ray's failures, kept off the terminal: while a command uses Ray, this process's standard
error (Ray's C++ and Python log lines, library warnings) goes to a log file in the workspace, and a Ray failure is
told in a few lines (which stage, why, what to change) with its full report in that file."""

from __future__ import annotations

import io
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

MEMORY_THRESHOLD_ENV = "RAY_memory_usage_threshold"  # Ray's: the share of node memory above which it kills workers
_OUT_OF_MEMORY = re.compile(r"out[ _]of[ _]memory|low on memory", re.IGNORECASE)
LESS_MEMORY = {  # what uses less memory in each stage, by the command that runs it alone
    "features": "`propensity features build` builds one customer slice per task: free memory for it",
    "training-set": "fewer join tasks at once: `propensity training-set --workers 1` (or smaller --batch-rows)",
    "train": "fewer trainers at once: `propensity train --workers 1`, or `--strategy data-parallel`",
    "score": "fewer scoring actors: `propensity score --workers 1`",
}


def route_stderr(log: Path, console: Console) -> Callable[[], None]:
    """Send standard error (file descriptor 2, which Ray's libraries and its local processes write to) to
    ``log``, appending; ``console`` keeps writing to the terminal. Returns the function that undoes it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = None
    if _writes_to_fd2(console.file):  # the real terminal (under a test runner the console has a buffer of its own)
        terminal = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace", buffering=1)
        console.file = terminal
    with open(log, "ab") as sink:
        os.dup2(sink.fileno(), 2)

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if terminal is not None:
            console.file = None  # back to sys.stderr
            terminal.close()

    return restore


def _writes_to_fd2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False


def is_ray_failure(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is Ray's: a worker, actor or node lost, Ray's out-of-memory kill."""
    from ray.exceptions import RayError

    return any(isinstance(e, RayError) for e in _chain(error))


def explain(error: BaseException, stage: str, log: Path) -> str:
    """A few lines for a Ray failure in ``stage``: that memory ran out (what uses it, what to change) or what Ray
    said first; the full report is appended to ``log``."""
    sys.stderr.flush()
    with log.open("a") as sink:
        traceback.print_exception(error, file=sink)
    details = f"\n  Ray's full report: {log}"
    if any(_OUT_OF_MEMORY.search(f"{type(e).__name__} {e}") for e in _chain(error)):
        threshold = float(os.environ.get(MEMORY_THRESHOLD_ENV, "0.95"))
        advice = LESS_MEMORY.get(stage, "run it again when more memory is free")
        return (
            f"memory ran out: Ray stopped a worker once the machine passed {threshold:.0%} of its memory.\n"
            f"  {memory_in_use()}\n"
            f"  To use less: {advice}; or free memory (other jobs).{details}"
        )
    first = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
    return f"a Ray worker failed: {first.strip()[:300]}{details}"


def memory_in_use(top: int = 3) -> str:
    """The machine's memory in use and its largest processes, in one line."""
    import psutil

    memory = psutil.virtual_memory()
    processes = []
    for process in psutil.process_iter(["pid", "cmdline", "name", "memory_info"]):
        info = process.info
        if info["memory_info"] is not None:
            processes.append((info["memory_info"].rss, info["pid"], _program(info["cmdline"], info["name"])))
    largest = ", ".join(
        f"{rss / 2**30:.1f} GiB {command} (pid {pid})" for rss, pid, command in sorted(processes)[::-1][:top]
    )
    return f"memory in use: {memory.used / 2**30:.1f} of {memory.total / 2**30:.1f} GiB; largest: {largest}"


def _program(cmdline: list[str] | None, name: str | None) -> str:
    """A process in two words: its program and the script it runs (``python param_exp.py``, ``ray::Trainer``)."""
    if not cmdline:
        return name or "?"
    script = [Path(word).name for word in cmdline[1:] if not word.startswith("-")][:1]
    return " ".join([Path(cmdline[0]).name, *script])


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and what it wraps (causes, contexts, a Ray task error's cause), each once."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is e for e in seen):
            continue
        seen.append(current)
        cause = getattr(current, "cause", None)
        todo += [current.__cause__, current.__context__, cause if isinstance(cause, BaseException) else None]
    return seen
