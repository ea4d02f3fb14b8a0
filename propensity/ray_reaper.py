"""Ends a local Ray instance's processes when the driver that started it dies, even by SIGKILL.

Ray ties its GCS and raylet to the driver (``PR_SET_PDEATHSIG``), but the raylet's agents (``DashboardAgent``,
``RuntimeEnvAgent``) outlive a killed raylet: they try to report its death to the dead GCS and hang. This
process, started by :func:`propensity.raysession.ensure_ray` in a session of its own, notes the driver's
descendants while it runs and kills those still running once it is gone. It only ever kills processes it saw
below the driver (same pid and start time), so no other Ray instance on the machine is touched.

Run as ``python -m propensity.ray_reaper <driver pid>``.
"""

from __future__ import annotations

import contextlib
import sys
import time

import psutil

POLL_SECONDS = 0.5


def reap_after(driver_pid: int) -> None:
    """Wait for ``driver_pid`` to end, then kill the descendants it had while it ran."""
    try:
        driver = psutil.Process(driver_pid)
    except psutil.NoSuchProcess:
        return
    seen: dict[int, psutil.Process] = {}
    while driver.is_running():
        try:
            for child in driver.children(recursive=True):
                seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            break
        time.sleep(POLL_SECONDS)
    for process in seen.values():
        if process.pid != psutil.Process().pid and process.is_running():  # is_running: same pid, same start
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


if __name__ == "__main__":
    reap_after(int(sys.argv[1]))
