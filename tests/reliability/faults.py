"""Injecting faults into running jobs: killing a Ray worker process by what it runs, or a command by what it
has written."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil


class WorkerKiller(threading.Thread):
    """Kills (SIGKILL) the first Ray worker process whose title (``ray::<task or actor method>``) contains
    ``running``, once, within ``timeout`` seconds of starting; ``killed`` holds its title afterwards. Only
    workers of a Ray cluster this process started (its descendants) are candidates."""

    def __init__(self, running: str, timeout: float = 300):
        super().__init__(daemon=True)
        self.running, self.timeout = running, timeout
        self.killed: str | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while self.killed is None and time.monotonic() < deadline:
            for proc in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):  # it may exit between listing and reading
                    title = " ".join(proc.cmdline())
                    if title.startswith("ray::") and self.running in title:
                        proc.kill()
                        self.killed = title
                        return
            time.sleep(0.02)


def propensity(workdir: Path, *args: str, ray_address: str | None = None) -> subprocess.Popen[str]:
    """``propensity <args>`` started as its own process on ``workdir`` (and on the Ray cluster at
    ``ray_address``)."""
    env = {**os.environ, "PROPENSITY_WORKDIR": str(workdir)}
    if ray_address:
        env["RAY_ADDRESS"] = ray_address
    command = [sys.executable, "-m", "propensity", *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def finish(process: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str]:
    """Wait for ``process``; its exit code and everything it printed."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out + err


def kill_when(
    process: subprocess.Popen[str], condition: Callable[[], bool], timeout: float = 300, *, kill: bool = True
) -> bool:
    """SIGKILL ``process`` and its children (Feast's CLI, ...) as soon as ``condition()`` holds (or, without
    ``kill``, only wait for it); False if the process ended or the wait timed out first."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if condition():
            if kill:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
            return True
        time.sleep(0.02)
    return False
